"""The replica loop's safety net: a stale fencing token never reaches
Nova or a BMC, and a stale owner's history write is refused."""

from nova_ha.engine import model
from nova_ha.engine import replica
from nova_ha.engine import scenario

CLOUD = {'segments': {'seg-a': {'hosts': ['a1', 'a2'],
                                'reserved': ['a-spare']}},
         'servers': [{'name': 'v1', 'host': 'a1'}],
         'engines': ['engine-1']}


def _cloud_with_incident():
    cloud = scenario.build(CLOUD)
    cloud.run_until(0.0)
    env = cloud.engines['engine-1'].env
    stored = env.open_incident('a2', 1, 'test')
    assert stored.generation == 1
    return cloud, env, stored


def test_stale_token_is_refused_before_the_side_effect():
    cloud, env, stored = _cloud_with_incident()
    cloud.hosts['a2'].forced_down = True
    # Another replica took the incident over: generation 2.
    cloud.history.incidents[stored.key]['generation'] = 2
    result = replica.run_action(env, model.Evacuate(
        incident=stored.key, token=1, vm='vm-01'))
    assert not result.ok and 'no longer ours' in result.error
    assert cloud.migrations == []
    fence = replica.run_action(env, model.Fence(
        incident=stored.key, token=1, host='a2'))
    assert not fence.ok
    assert cloud.hosts['a2'].power == 'on'


def test_current_token_acts():
    cloud, env, stored = _cloud_with_incident()
    scenario.apply(cloud, 'hang a2')
    cloud.hosts['a2'].coord_stopped_at = -5.0     # its heartbeat expired
    result = replica.run_action(env, model.Fence(
        incident=stored.key, token=1, host='a2'))
    assert result.ok and cloud.hosts['a2'].power == 'off'


def test_stale_owner_cannot_write_the_history():
    cloud, env, stored = _cloud_with_incident()
    cloud.history.incidents[stored.key]['generation'] = 2
    result = replica.run_action(env, model.Save(
        incident=stored.key, token=1, state='fencing', facts={}))
    assert not result.ok
    assert cloud.history.incidents[stored.key]['state'] == 'detected'


def test_expired_lease_is_refused_and_taken_over_once():
    cloud, env, stored = _cloud_with_incident()
    cloud.kill_engine('engine-1')
    cloud.run_until(cloud.timings.lease_ttl + 1)
    other = cloud.start_engine('engine-2').env
    assert not env.lease_valid(stored.key, 1)
    taken = other.take_over(stored.key, 1)
    assert taken.generation == 2
    assert other.take_over(stored.key, 1) is None    # compare-and-set


class _MovesEnv:
    """Nova mid-evacuation: vm-a's move is done, vm-b's still running."""

    me = 'engine-1'

    def __init__(self):
        self.server_reads = []

    def incidents(self):
        return []

    def renew(self, key, token):
        return True

    def peer_views(self, hosts):
        return None

    def lost_at(self):
        return None

    def migrations(self, vm_ids, host=None, since=None):
        return {'vm-a': (model.Migration('m1', 'vm-a', 'evacuation', 'done',
                                         'a1', 'a2', 10.0),),
                'vm-b': (model.Migration('m2', 'vm-b', 'evacuation',
                                         'running', 'a1', 'a2', 10.0),)}

    def servers(self, vm_ids, host=None, since=None):
        self.server_reads.append(sorted(vm_ids))
        return {vm: model.Server(vm, vm, 'a2', 'ACTIVE') for vm in vm_ids}

    def compute_services(self):
        return {}

    def liveness(self):
        return {}

    def aggregates(self):
        return []

    def take_reports(self):
        return []

    def take_events(self):
        return []


def _evacuating_state():
    from nova_ha.engine import core
    from nova_ha.engine import states
    plan = [{'id': vm, 'name': vm, 'status': 'ACTIVE', 'priority': 0}
            for vm in ('vm-a', 'vm-b')]
    state = core.EngineState()
    key = 'host_failure:a1:1'
    state.incidents[key] = states.Incident(
        key, 'a1', states.EVACUATING, 5.0, 9.0, 1,
        {'plan': plan, 'moved': {}})
    return state


def test_a_finished_move_is_read_once_the_others_have_finished():
    # Each server read is nova-api work the running rebuilds wait for:
    # a move that ended well waits until none is under way...
    env = _MovesEnv()
    obs = replica.observe(env, _evacuating_state(), (), (),
                          settled_due=False)
    assert env.server_reads == []
    assert 'vm-a' not in obs.vms and 'vm-a' not in obs.migrations
    assert obs.migrations['vm-b'][0].status == 'running'
    # ...or at most a reconcile interval.
    obs = replica.observe(env, _evacuating_state(), (), (),
                          settled_due=True)
    assert env.server_reads == [['vm-a']]
    assert obs.vms['vm-a'].host == 'a2'


def test_a_failed_move_is_read_at_once():
    env = _MovesEnv()
    failed = model.Migration('m1', 'vm-a', 'evacuation', 'error', 'a1',
                             'a2', 10.0)
    env.migrations = lambda *a, **k: {
        'vm-a': (failed,),
        'vm-b': (model.Migration('m2', 'vm-b', 'evacuation', 'running',
                                 'a1', 'a2', 10.0),)}
    replica.observe(env, _evacuating_state(), (), (), settled_due=False)
    assert env.server_reads == [['vm-a']]


def test_a_host_that_heartbeats_again_is_neither_fenced_nor_copied():
    # The core decided on an older look; the host is back when the
    # executor picks the actions up.
    cloud, env, stored = _cloud_with_incident()
    cloud.hosts['a2'].forced_down = True
    fence = replica.run_action(env, model.Fence(
        incident=stored.key, token=1, host='a2'))
    assert not fence.ok and 'HostAlive' in fence.error
    assert cloud.hosts['a2'].power == 'on'
    evacuate = replica.run_action(env, model.Evacuate(
        incident=stored.key, token=1, vm='vm-01', source='a1'))
    assert not evacuate.ok and 'HostAlive' in evacuate.error
    assert cloud.migrations == []


def test_the_escalation_of_a_dead_nova_compute_fences_a_live_host():
    cloud, env, stored = _cloud_with_incident()
    fence = replica.run_action(env, model.Fence(
        incident=stored.key, token=1, host='a2', unless_alive=False))
    assert fence.ok and cloud.hosts['a2'].power == 'off'
