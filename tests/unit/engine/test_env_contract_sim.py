"""The Environment contract on the simulated cloud (SimEnv).

The world is built and changed through the scenario language
(nova_ha.engine.scenario), on the virtual clock; no engine runs in it:
the tests are the replicas.
"""

import contextlib
import unittest

from nova_ha.engine import scenario
from nova_ha.engine import sim
from tests.unit.engine import env_contract

PARTS = {env_contract.NOVA: 'nova-api', env_contract.HISTORY: 'history',
         env_contract.COORDINATION: 'redis'}


class TestSimEnv(env_contract.EnvContract, unittest.TestCase):

    def setUp(self):
        super().setUp()
        self.cloud = scenario.build({
            'segments': {'seg-a': {'hosts': [self.HOST, self.OTHER],
                                   'reserved': [self.SPARE]}},
            'engines': []})
        self.envs = {}

    def env(self, name='engine-1'):
        if name not in self.envs:
            self.envs[name] = sim.SimEnv(self.cloud, name)
        return self.envs[name]

    def command(self, line):
        scenario.apply(self.cloud, line)

    def boot(self, name, host):
        vm = 'vm-%02d' % (len(self.cloud.servers) + 1)
        self.cloud.servers[vm] = sim.Server(vm, name, host)
        self.cloud.guests.setdefault(host, set()).add(vm)
        return vm

    def hang(self, host):
        self.command('hang %s' % host)
        self.cloud.run_until(self.cloud.now +
                             self.cloud.timings.liveness_down_time + 0.1)

    def break_bmc(self, host):
        self.command('bmc unreachable %s' % host)

    @contextlib.contextmanager
    def not_answering(self, part):
        self.command('%s down' % PARTS[part])
        try:
            yield
        finally:
            self.command('%s up' % PARTS[part])

    def lapse(self, key):
        self.cloud.run_until(self.cloud.now +
                             self.cloud.timings.lease_ttl + 0.1)

    def pause(self):
        self.cloud.run_until(self.cloud.now + 5.0)

    def operator(self, key, host, request):
        self.command('operator %s %s' % (request.replace('_', '-'), host))

    def records(self, incident):
        return [dict(kind=kind, message=message,
                     incident=fields.get('incident'),
                     token=fields.get('token') or None,
                     host=fields.get('host'),
                     instance=fields.get('instance'),
                     outcome=fields.get('outcome'),
                     detail=fields.get('detail'))
                for _, kind, message, fields in self.cloud.history.records
                if incident is None or fields.get('incident') == incident]

    def wait(self, predicate, what, timeout=120.0):
        until = self.cloud.now + timeout
        while not predicate():
            if self.cloud.now >= until:
                raise AssertionError('%s: not within %.0f virtual s' % (
                    what, timeout))
            self.cloud.run_until(self.cloud.now + 0.5)

    def report(self, env, host, kind):
        env.reports.append((host, kind, env.clock()))

