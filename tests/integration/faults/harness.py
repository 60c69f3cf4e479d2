"""Faults injected into a deployed set of engine replicas, mid-recovery.

Real parts: three nova-ha-engine processes (the installed console script)
sharing a Redis of their own (tooz leases, lock_timeout 5 s; each replica
reaches it through its own TCP proxy, so that one can be cut off), the
machine's RabbitMQ, and the history on a PostgreSQL cluster of their own
(both private servers can be restarted without disturbing other tests);
Nova's API over HTTP (the in-process cloud, see
nova_ha_testbed.engine_process); fencing through the IPMI driver against
pyghmi's fakebmc; monitor events signed with each host's key, and Nova's
and the BMC's timeouts short enough for the 5 s leases (see
engine_process.side_effect_options).  Stand-in: keystone (see
engine_process).

The cloud: segment seg-a = a1 + a2 + reserved a-spare; 20 HA VMs on a1
with mixed priorities, three of them stopped and one in ERROR.  a1 fails
and a fault strikes at a point of the recovery:

==============  ==========================================================
before_fence    the incident is open, the host not yet fenced (the host
                hangs: its BMC says on, so it is confirmed from Nova's
                heartbeat and powered off by the engine)
after_fence     the history holds the fence proof (the host lost power)
mid_requests    Nova has accepted half of the evacuations
power_restore   the first VM is being put back in its earlier state
host_dies       the moment the host fails (every engine down)
fence           the fence itself (the BMC refuses, or never answers)
==============  ==========================================================

The verdict comes from Nova's records and the history only (see
nova_ha_testbed.invariants).  Each run appends one JSON line to the file
named by NOVA_HA_FAULT_RESULTS, when set, for bench/engine_faults.py.
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import dataclasses
import datetime
import json
import os
import tempfile
import time
import uuid

from nova_ha.history import store as history_store
from nova_ha.notifier import events

from nova_ha_testbed import engine_process
from nova_ha_testbed import fault_services
from nova_ha_testbed import invariants
from tests.integration.fencing import peers
from tests.integration import services

RESULTS_ENV = 'NOVA_HA_FAULT_RESULTS'
VMS_ENV = 'NOVA_HA_FAULT_VMS'
VERBOSE_ENV = 'NOVA_HA_FAULT_VERBOSE'   # 1: print the history of each run

HOST = 'a1'
SEGMENT_HOSTS = ('a2', 'a-spare')
LEASE_TTL = 5
RECONCILE_INTERVAL = 2
# Every Redis call of an engine gives up after this long, so a cut link
# turns into "lease lost", not a hung look.
REDIS_SOCKET_TIMEOUT = 2
# The engine's promise: another replica acts within the lease TTL plus
# one reconcile interval; the bound tested adds 2 s for this machine.
TAKEOVER_BOUND = LEASE_TTL + RECONCILE_INTERVAL + 2.0
RECOVERY_DEADLINE = 240.0
# A host whose BMC never answers is parked after this long (the default,
# 120 s, would only make the run longer).
CONFIRM_MAX_WAIT = 30


@dataclasses.dataclass
class Run:
    """What one run measured, for the table."""

    fault: str
    point: str
    vms: int
    started: float = 0.0          # wall clock, the host failed
    fault_at: float = None        # wall clock, the fault struck
    evacuations_at_fault: int = None
    takeover_s: float = None      # fault to a survivor's takeover
    recovered_s: float = None     # host failure to Nova's last move done
    verdict: dict = None
    note: str = ''
    setup_s: float = None         # the cloud, the engines and the VMs
    run_s: float = None           # the host failure to the verdict

    def save(self):
        path = os.environ.get(RESULTS_ENV)
        if path:
            with open(path, 'a') as f:
                f.write(json.dumps(dataclasses.asdict(self)) + '\n')


class FaultCloud(cloud.HACloudTestCase):

    compute_driver = 'fake.FakeDriver'      # room for every VM on a1
    TOPOLOGY = (cloud.SegmentSpec('seg-a', ['a1', 'a2'], ['a-spare']),)
    UNSEGMENTED_HOSTS = ()
    ENGINES = 3
    VMS = int(os.environ.get(VMS_ENV, '20'))
    STOPPED = 3

    # Set by a test before setUp's deployment.
    refuse_power_off = 0
    # More [engine] options of the replicas.
    ENGINE_OPTIONS = {}

    def setUp(self):
        services.require('RabbitMQ', services.RABBITMQ)
        self.setup_began = time.monotonic()
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix='nova-ha-faults-')
        self.redis = fault_services.PrivateRedis(self.workdir)
        self.redis.start()
        self.addCleanup(self.redis.stop)
        self.postgresql = fault_services.PrivatePostgreSQL(self.workdir)
        self.postgresql.start()
        self.addCleanup(self.postgresql.destroy)
        self.postgresql.create_database('history')
        history_url = self.postgresql.url('history')
        self.bmc = peers.FakeBMC(self.workdir,
                                 refuse_power_off=self.refuse_power_off)
        self.addCleanup(self.bmc.stop)
        self.bmc.power('on')
        namespace = 'nova-ha-faults-%s' % uuid.uuid4().hex[:8]
        first = engine_process.Shared.fresh(self.workdir,
                                            history_url=history_url)
        self.proxies, shared = [], []
        for _ in range(self.ENGINES):
            proxy = fault_services.TcpProxy('127.0.0.1', self.redis.port)
            self.addCleanup(proxy.stop)
            self.proxies.append(proxy)
            shared.append(dataclasses.replace(
                first, coordination_url='redis://127.0.0.1:%d?lock_timeout=%d'
                '&socket_timeout=%d&namespace=%s' % (
                    proxy.port, LEASE_TTL, REDIS_SOCKET_TIMEOUT, namespace)))
        self.engines = engine_process.deploy_replicas(
            self, services.RABBIT_URL, self.ENGINES, shared,
            fencing={HOST: {
                'driver': 'ipmi', 'address': '127.0.0.1',
                'port': self.bmc.port, 'username': peers.FAKEBMC_USER,
                'password': peers.FAKEBMC_PASSWORD,
                'interface': 'ipmitool', 'cipher_suite': 3}},
            engine_options=dict({'reconcile_interval': RECONCILE_INTERVAL},
                                **self.ENGINE_OPTIONS),
            servicegroup_options={'confirm_max_wait': CONFIRM_MAX_WAIT},
            start=False)
        self.history = history_store.HistoryStore(history_url)
        self.addCleanup(self.history.close)
        self.vms = self._boot_vms()
        self.setup_s = time.monotonic() - self.setup_began
        # Last cleanup added, first run: the engines die at once (a
        # graceful stop of three replicas only lengthens the test).
        self.addCleanup(self._kill_engines)

    def _kill_engines(self):
        for engine in self.engines:
            if engine.alive():
                engine.kill()

    # -- the cloud before the failure -------------------------------------

    def _boot_vms(self):
        """{id: status before the failure} of the HA VMs on a1."""
        flavor = self._create_flavor(name='small', memory_mb=256, vcpu=1,
                                     disk=1, ephemeral=0)
        servers = [self.boot_server('vm%02d' % n, priority=n % 4, host=HOST,
                                    flavor_id=flavor, expected_state=None)
                   for n in range(self.VMS)]
        for server in servers:
            self._wait_for_state_change(server, 'ACTIVE')
        before = {s['id']: 'ACTIVE' for s in servers}
        for server in servers[1:1 + self.STOPPED]:
            self.admin_api.post_server_action(server['id'],
                                              {'os-stop': None})
            before[server['id']] = 'SHUTOFF'
        for server in servers[1:1 + self.STOPPED]:
            self._wait_for_state_change(server, 'SHUTOFF')
        broken = servers[self.VMS // 2]
        self.admin_api.post_server_action(
            broken['id'], {'os-resetState': {'state': 'error'}})
        before[broken['id']] = 'ERROR'
        self.wait_for(lambda: self.admin_api.get_server(
            broken['id'])['status'] == 'ERROR', what='vm in ERROR')
        return before

    def start_engines(self, count=None):
        for engine in self.engines[:count or len(self.engines)]:
            engine.start()

    # -- the failure ------------------------------------------------------

    def host_fails(self, power='lost', report=True):
        """a1 fails: 'lost' (power gone, its BMC says off) or 'hung' (its
        BMC says on: the engine must power it off); ``report``: a monitor
        publishes host.down."""
        began = time.monotonic()
        self.computes[HOST].stop()
        self.compute_stop_s = time.monotonic() - began
        if power == 'lost':
            self.bmc.power('off')
        if report:
            self.engines[0].publish(events.HOST_DOWN, HOST, source='test')

    # -- what the records show --------------------------------------------

    def incident(self):
        found = self.history.list_incidents(host=HOST)
        return found[-1] if found else None

    def records(self):
        incident = self.incident()
        return self.history.query(incident=incident.key) if incident else []

    def evacuations(self):
        return [m for m in self.admin_api.get_migrations()
                if m['migration_type'] == invariants.EVACUATION]

    def owner(self):
        """The engine process named as the incident's owner."""
        incident = self.incident()
        if incident is None or not incident.owner:
            return None
        return next((e for e in self.engines if e.alive() and
                     incident.owner.endswith(':%d' % e.pid)), None)

    def wait_for_point(self, point, timeout=120.0):
        """Wait until the recovery reaches ``point``."""
        half = max(1, self.VMS // 2)
        checks = {
            'host_dies': lambda: True,
            'before_fence': lambda: self.incident() is not None and
            self.owner() is not None,
            'after_fence': lambda: any(
                r.kind == 'transition' and '-> fenced:' in r.message
                for r in self.records()),
            'mid_requests': lambda: len(self.evacuations()) >= half,
            'power_restore': lambda: any(r.kind == 'power'
                                         for r in self.records()),
        }
        self.wait_for(checks[point], timeout=timeout, interval=0.05,
                      what=point)

    def wait_for_end(self, expect='recovered', timeout=RECOVERY_DEADLINE):
        def ended():
            incident = self.incident()
            return incident is not None and incident.state == expect
        try:
            self.wait_for(ended, timeout=timeout, interval=0.2,
                          what='the incident %s' % expect)
        except AssertionError:
            incident = self.incident()
            raise AssertionError('the incident is %s after %.0f s, not %s;'
                                 ' its records:\n%s\n%s' % (
                                     incident and incident.state, timeout,
                                     expect, self.record_lines(),
                                     self.engine_logs()))

    def record_lines(self):
        return '\n'.join('%s [%s/%s] g%s %s' % (
            r.at.strftime('%H:%M:%S.%f'), r.kind, r.outcome, r.token,
            r.message) for r in self.records())

    def engine_logs(self, tail=2500):
        return '\n'.join('--- %s\n%s' % (e.log_file, e.log()[-tail:])
                         for e in self.engines)

    # -- the verdict ------------------------------------------------------

    def judge(self, run, expect='recovered'):
        """Judge the run from Nova's records and the history; save it;
        fail the test on any broken promise."""
        migrations = self.evacuations()
        servers = {vm: self.admin_api.get_server(vm) for vm in self.vms}
        records = self.records()
        verdict = invariants.judge(
            self.vms, migrations, servers, records,
            self.history.list_incidents(host=HOST), SEGMENT_HOSTS, expect)
        run.verdict = verdict.to_dict()
        run.run_s = time.time() - run.started
        run.note = ('%s; ' % run.note if run.note else '') + \
            'nova-compute of %s stopped in %.1f s' % (
                HOST, getattr(self, 'compute_stop_s', 0.0))
        done = [invariants.nova_time(m['updated_at'])
                for m in migrations if m['status'] == 'done' and
                m['instance_uuid'] in self.vms]
        if done and expect == 'recovered':
            run.recovered_s = max(done).timestamp() - run.started
        if run.fault_at is not None:
            took_over = [r.at.timestamp() for r in records
                         if r.kind == 'lease' and 'took over' in r.message
                         and r.at.timestamp() >= run.fault_at]
            if took_over:
                run.takeover_s = min(took_over) - run.fault_at
        run.save()
        if os.environ.get(VERBOSE_ENV) == '1':
            print(self.record_lines())
        self.assertEqual([], verdict.violations, '%s\n%s' % (
            self.record_lines(), self.engine_logs()))
        return verdict

    def new_run(self, fault, point):
        return Run(fault, point, self.VMS, started=time.time(),
                   setup_s=self.setup_s)

    def struck(self, run):
        run.fault_at = time.time()
        run.evacuations_at_fault = len(self.evacuations())


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)
