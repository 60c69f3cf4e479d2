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
