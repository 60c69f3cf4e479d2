"""The Environment contract on the real environment.

Real parts: Nova in process (nova_ha_testbed.cloud: API, conductor,
scheduler, placement, nova-compute services with the fake virt driver)
through openstacksdk and the Nova gateway, tooz leases on the machine's
Redis (a TTL of TTL seconds, a namespace of each test's own), the SQL
history on SQLite, and the LivenessBoard the servicegroup watchers write.

Stand-ins, as in the engine's other functional tests
(nova_ha_testbed.engine): the BMCs.  The in-process computes are threads
of this process, not machines with a baseboard controller, so
SimulatedBMCs answers for them (a fenced host's nova-compute is
stopped); the fence drivers themselves have their own contract against
pyghmi's fakebmc and sushy-tools (tests/integration/fencing).  The
servicegroup watchers: the tests set the board as they would.

What does not answer: a nova-api on a loopback port nobody listens on
(each replica's connection is pointed there), a history database that
cannot be opened, a board the watchers marked unavailable.
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import contextlib
import os
import socket
import tempfile
import time
import uuid

import pytest

from nova_ha.engine import real_env
from nova_ha.history import store as history_store
from nova_ha.notifier import nova as ha_nova

from nova_ha_testbed import engine as engine_harness
from tests.integration import services
from tests.unit.engine import env_contract

TTL = 3


def _closed_port():
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return probe.getsockname()[1]


class TestRealEnv(env_contract.EnvContract, cloud.HACloudTestCase):

    TOPOLOGY = (cloud.SegmentSpec('seg-a',
                                  [env_contract.EnvContract.HOST,
                                   env_contract.EnvContract.OTHER],
                                  [env_contract.EnvContract.SPARE]),)
    UNSEGMENTED_HOSTS = ()

    def setUp(self):
        services.require_redis()
        super().setUp()
        self.small = self._create_flavor(
            name='small', memory_mb=512, vcpu=1, disk=1, ephemeral=0)
        self.tmp = tempfile.mkdtemp(prefix='nova-ha-contract-')
        self.history = history_store.HistoryStore(
            'sqlite:///' + os.path.join(self.tmp, 'history.sqlite'))
        self.addCleanup(self.history.close)
        self.history.upgrade()
        self.redis_url = (
            'redis://%s:%d?lock_timeout=%d&socket_timeout=2&'
            'namespace=nova-ha-contract-%s' % (
                services.REDIS + (TTL, uuid.uuid4().hex)))
        self.bmcs = engine_harness.SimulatedBMCs(self)
        self.board = real_env.LivenessBoard()
        for host in self.all_hosts():
            self.board.set(host, True)
        self.envs = {}

    def env(self, name='engine-1'):
        if name not in self.envs:
            leases = real_env.ToozLeases(self.redis_url, name)
            self.addCleanup(leases.stop)
            self.envs[name] = real_env.RealEnvironment(
                name, ha_nova.NovaGateway(self.sdk_connection()),
                self.history, leases, self.bmcs.fence,
                self.bmcs.power_state, liveness=self.board,
                nova_timeout=10.0)
        return self.envs[name]

    def boot(self, name, host):
        return self.boot_server(name, host=host, flavor_id=self.small)['id']

    def hang(self, host):
        self.computes[host].stop()
        self.board.set(host, False)

    def break_bmc(self, host):
        self.bmcs.broken.add(host)

    def _dead_history(self):
        blocker = os.path.join(self.tmp, 'not-a-directory')
        open(blocker, 'w').close()
        store = history_store.HistoryStore(
            'sqlite:///' + os.path.join(blocker, 'history.sqlite'))
        self.addCleanup(store.close)
        return store

    @contextlib.contextmanager
    def not_answering(self, part):
        if part == env_contract.COORDINATION:
            self.board.available = False
            try:
                yield
            finally:
                self.board.available = True
            return
        if part == env_contract.NOVA:
            # Each replica's connection, its endpoint already discovered,
            # now sends its requests where nobody listens.
            where = [(env.nova.compute, 'endpoint_override')
                     for env in self.envs.values()]
            dead = 'http://127.0.0.1:%d/v2.1' % _closed_port()
        else:
            where = [(env, 'history') for env in self.envs.values()]
            dead = self._dead_history()
        saved = [(owner, name, getattr(owner, name)) for owner, name in where]
        for owner, name in where:
            setattr(owner, name, dead)
        try:
            yield
        finally:
            for owner, name, value in saved:
                setattr(owner, name, value)

    def lapse(self, key):
        time.sleep(TTL + 0.2)

    def pause(self):
        time.sleep(0.2)

    def operator(self, key, host, request):
        self.history.operator_request(key, request, who='alice',
                                      reason='contract')

    def records(self, incident):
        found = self.history.query(incident=incident) if incident else \
            self.history.query()
        return [dict(kind=r.kind, message=r.message, incident=r.incident,
                     token=r.token, host=r.host, instance=r.instance,
                     outcome=r.outcome, detail=r.detail) for r in found]

    def wait(self, predicate, what):
        self.wait_for(predicate, timeout=60.0, interval=0.1, what=what)

    def report(self, env, host, kind):
        env.report(host, kind)

    # -- where RealEnvironment breaks the contract today -------------------

    @pytest.mark.xfail(strict=True, reason=(
        'RealEnvironment.lease_free() acquires the free lease and keeps it '
        '(for take_over): a second replica asking is told it is held, and '
        'a replica that asks and does not take over holds the lease of an '
        'incident it does not own until the TTL ends (for ever on a '
        'backend without one: file://, ZooKeeper); SimEnv only asks'))
    def test_lease_free_only_asks(self):
        super().test_lease_free_only_asks()

    @pytest.mark.xfail(strict=True, reason=(
        'The side effects of RealEnvironment (force_down, disable, '
        'evacuate, set_power, reset_stale_task, release_reserved) call the '
        'Nova gateway directly, not through _nova_call: a nova-api that '
        'does not answer raises keystoneauth\'s DiscoveryFailure (or a '
        'NovaError), not Unavailable as SimEnv does, so the failed Result '
        'the core reads does not begin with Unavailable'))
    def test_nova_not_answering_is_unavailable_to_every_side_effect(self):
        super().test_nova_not_answering_is_unavailable_to_every_side_effect()

    @pytest.mark.xfail(strict=True, reason=(
        'RealEnvironment gives StoredIncident.since the row\'s updated_at, '
        'which HistoryStore.claim_incident stamps with the time of the '
        'takeover: the new owner takes the state as entered then (SimEnv '
        'keeps the time of the last transition), and the core\'s '
        'fallbacks on since (fenced_at, started) restart'))
    def test_take_over_keeps_the_since_of_the_state(self):
        super().test_take_over_keeps_the_since_of_the_state()

    @pytest.mark.xfail(strict=True, reason=(
        'RealEnvironment gives StoredIncident.since the row\'s updated_at, '
        'which HistoryStore.save_incident stamps on every save, with or '
        'without a transition (SimEnv moves since only with a transition '
        'record)'))
    def test_a_save_within_a_state_keeps_its_since(self):
        super().test_a_save_within_a_state_keeps_its_since()
