"""Engine replicas under real faults, mid-recovery (see harness.py).

Each test is one fault at one point of the recovery; every run is judged
from Nova's records and the history.  CI runs the cases of CI_CASES (one
per fault); NOVA_HA_FAULT_MATRIX=1 runs every case, and
``bench/engine_faults.py`` runs each fault several times over its points
and prints the table.
"""

import os
import signal
import time
import unittest

from tests.integration.faults import harness
from nova_ha_testbed import fault_services

MATRIX_ENV = 'NOVA_HA_FAULT_MATRIX'

RECOVERY_POINTS = ('before_fence', 'after_fence', 'mid_requests',
                   'power_restore')

# fault -> the points it may strike at
FAULTS = {
    'none': ('host_dies',),
    'kill': RECOVERY_POINTS,
    'term': RECOVERY_POINTS,
    'hup': RECOVERY_POINTS,
    'all_down': ('host_dies',),
    'rabbitmq': RECOVERY_POINTS,
    'redis': RECOVERY_POINTS,
    'postgresql': RECOVERY_POINTS,
    'redis_cut': RECOVERY_POINTS,
    'fence_flaky': ('fence',),
    'bmc_silent': ('fence',),
}

# One case per fault in CI (the full matrix is a command).
CI_CASES = {
    ('none', 'host_dies'), ('kill', 'mid_requests'),
    ('term', 'after_fence'), ('all_down', 'host_dies'),
    ('rabbitmq', 'mid_requests'), ('redis', 'mid_requests'),
    ('postgresql', 'after_fence'), ('redis_cut', 'mid_requests'),
    ('fence_flaky', 'fence'), ('bmc_silent', 'fence'),
}

# How long every engine stays down after the host dies.
ALL_DOWN_FOR = float(os.environ.get('NOVA_HA_FAULT_DOWN_FOR', '60'))


class EngineFaults(harness.FaultCloud):

    def setUp(self):
        fault, point = self._case()
        if (fault, point) not in CI_CASES and \
                os.environ.get(MATRIX_ENV) != '1':
            raise unittest.SkipTest('in the full matrix only (%s=1, or '
                                    'bench/engine_faults.py)' % MATRIX_ENV)
        if fault == 'fence_flaky':
            self.refuse_power_off = 2
        super().setUp()

    def _case(self):
        name = self._testMethodName[len('test_'):]
        for fault in sorted(FAULTS, key=len, reverse=True):
            if name.startswith(fault + '_'):
                return fault, name[len(fault) + 1:]
        raise ValueError(name)

    def run_case(self):
        fault, point = self._case()
        getattr(self, 'case_' + fault)(point)

    # -- a replica dies or stops ------------------------------------------

    def _recover_with(self, fault, point, strike):
        """Three engines; the host fails; ``strike(run)`` at ``point``;
        the recovery must end with every promise kept."""
        self.start_engines()
        run = self.new_run(fault, point)
        self.host_fails(power='hung' if point == 'before_fence'
                        else 'lost')
        self.wait_for_point(point)
        strike(run)
        self.wait_for_end()
        self.judge(run)
        return run

    def case_none(self, point):
        self._recover_with('none', point, lambda run: None)

    def case_kill(self, point):
        def strike(run):
            owner = self.owner()
            self.struck(run)
            owner.kill()
        run = self._recover_with('kill', point, strike)
        self.assertIsNotNone(run.takeover_s, 'nobody took over')
        self.assertLess(run.takeover_s, harness.TAKEOVER_BOUND)

    def case_term(self, point, fault='term', signal=signal.SIGTERM):
        def strike(run):
            owner = self.owner()
            self.struck(run)
            began = time.monotonic()
            code = owner.terminate(timeout=120, signal=signal)
            run.note = 'the owner exited %d in %.1f s' % (
                code, time.monotonic() - began)
            self.assertEqual(0, code, owner.log()[-3000:])
        run = self._recover_with(fault, point, strike)
        # The owner hands over before anything else: a lease given back
        # is taken at the next look of another replica.
        self.assertIsNotNone(run.takeover_s, 'nobody took over')
        self.assertLess(run.takeover_s, harness.RECONCILE_INTERVAL + 3.0)

    def case_hup(self, point):
        """SIGHUP (systemctl reload) is a restart: the same hand-over."""
        self.case_term(point, fault='hup', signal=signal.SIGHUP)

    # -- every replica down ----------------------------------------------

    def case_all_down(self, point):
        run = self.new_run('all_down', point)
        self.host_fails(power='lost', report=False)
        time.sleep(ALL_DOWN_FOR)
        self.struck(run)
        self.start_engines(1)
        self.wait_for_end()
        self.judge(run)

    # -- a backend restarts or is cut off ----------------------------------

    def case_rabbitmq(self, point):
        def strike(run):
            self.struck(run)
            fault_services.restart_rabbitmq(down_for=1.0)
        self._recover_with('rabbitmq', point, strike)

    def case_redis(self, point):
        def strike(run):
            self.struck(run)
            self.redis.restart(down_for=1.0)     # every lease is gone
        self._recover_with('redis', point, strike)

    def case_postgresql(self, point):
        def strike(run):
            self.struck(run)
            self.postgresql.restart(down_for=2.0)
        self._recover_with('postgresql', point, strike)

    def case_redis_cut(self, point):
        def strike(run):
            owner = self.owner()
            self.struck(run)
            self.proxies[self.engines.index(owner)].cut()
        run = self._recover_with('redis_cut', point, strike)
        # The cut owner stops within the lease TTL (its Redis calls time
        # out after REDIS_SOCKET_TIMEOUT) and another takes over.
        self.assertIsNotNone(run.takeover_s, 'nobody took over')
        self.assertLess(run.takeover_s, harness.TAKEOVER_BOUND)

    # -- the BMC ----------------------------------------------------------

    def case_fence_flaky(self, point):
        """The BMC refuses the first two power-off requests: the third
        attempt fences, and only then does anything move."""
        self.start_engines()
        run = self.new_run('fence_flaky', point)
        self.host_fails(power='hung')
        self.wait_for_end()
        self.judge(run)
        fences = [r for r in self.records() if r.kind == 'fence']
        self.assertEqual(['failed', 'failed'],
                         [r.outcome for r in fences][:2],
                         self.record_lines())

    def case_bmc_silent(self, point):
        """The BMC never answers: nothing is evacuated, ever; the incident
        is parked for an operator."""
        self.start_engines()
        run = self.new_run('bmc_silent', point)
        self.bmc.freeze()
        self.struck(run)
        self.host_fails(power='hung')
        self.wait_for_end(expect='parked')
        self.judge(run, expect='parked')
        self.assertEqual([], self.evacuations())


def _add_cases():
    for fault, points in FAULTS.items():
        for point in points:
            setattr(EngineFaults, 'test_%s_%s' % (fault, point),
                    EngineFaults.run_case)


_add_cases()
