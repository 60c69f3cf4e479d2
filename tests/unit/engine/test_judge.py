"""The simulator's strict judge: each violation, shown on a small cloud
whose story breaks the promise on purpose (no engine involved where the
story needs none)."""

from nova_ha.engine import judge
from nova_ha.engine import scenario

CLOUD = {'segments': {'seg-a': {'hosts': ['a1', 'a2'],
                                'reserved': ['a-spare']}},
         'servers': [{'name': 'v1', 'host': 'a1'},
                     {'name': 'off', 'host': 'a1', 'status': 'SHUTOFF'}],
         'engines': []}


def _cloud(**changes):
    spec = dict(CLOUD, **changes)
    cloud = scenario.build(spec)
    cloud.run_until(0.0)
    return cloud


def test_a_guest_on_two_powered_hosts_is_seen_at_that_instant():
    cloud = _cloud()
    cloud.guests.setdefault('a2', set()).add('vm-01')
    cloud.run_until(1.0)
    assert cloud.judge.kinds() == [judge.TWICE]
    assert 'v1 runs on a1 and a2' in cloud.judge.violations[0]


def test_a_hung_hosts_guests_still_count():
    cloud = _cloud()
    scenario.apply(cloud, 'hang a1')
    cloud.guests.setdefault('a2', set()).add('vm-01')
    cloud.run_until(1.0)
    assert cloud.judge.kinds() == [judge.TWICE]


def test_a_powered_off_hosts_guests_do_not_count():
    cloud = _cloud()
    scenario.apply(cloud, 'power off a1')
    cloud.guests.setdefault('a2', set()).add('vm-01')
    cloud.run_until(1.0)
    assert cloud.judge.found == []


def test_fencing_a_healthy_host_is_counted_apart():
    cloud = _cloud()
    cloud.run_until(5.0)
    cloud.fence(cloud.hosts['a2'], 'someone', checked_at=4.0)
    assert cloud.judge.kinds() == [judge.HEALTHY_FENCED]


def test_fencing_a_host_cut_from_every_channel_is_no_violation():
    cloud = _cloud()
    scenario.apply(cloud, 'isolate a2')
    cloud.run_until(5.0)
    cloud.fence(cloud.hosts['a2'], 'someone', checked_at=4.0)
    assert cloud.judge.found == []


def test_a_host_its_peers_hear_is_healthy():
    cloud = _cloud(peer_probes={'watchdogs': {}})
    scenario.apply(cloud, 'cut management a2')
    cloud.run_until(5.0)
    cloud.fence(cloud.hosts['a2'], 'someone', checked_at=4.0)
    assert cloud.judge.kinds() == [judge.HEALTHY_FENCED]


def test_an_ha_vm_left_on_a_dead_host_without_an_alert_is_lost():
    cloud = _cloud(lost_after=100)
    scenario.apply(cloud, 'power off a1')
    cloud.run_until(99.0)
    assert cloud.judge.found == []
    cloud.run_until(101.0)
    # The stopped VM is stranded too: it must be rebuilt elsewhere.
    assert cloud.judge.kinds() == [judge.LOST]
    assert len(cloud.judge.found) == 2


def test_maintenance_is_the_operators_excuse():
    cloud = _cloud(lost_after=100, maintenance=['a1'])
    scenario.apply(cloud, 'power off a1')
    cloud.run_until(200.0)
    assert cloud.judge.found == []


def test_a_close_before_the_death_is_no_excuse():
    cloud = _cloud(lost_after=100)
    cloud.history.incidents['host_failure:a1:1'] = {
        'key': 'host_failure:a1:1', 'host': 'a1', 'state': 'closed',
        'opened_at': 0.0, 'since': 0.0, 'owner': None, 'generation': 1,
        'facts': {}, 'operator': {}}
    cloud.history.record('operator.close', 'closed',
                         incident='host_failure:a1:1')
    cloud.run_until(10.0)
    scenario.apply(cloud, 'power off a1')
    cloud.run_until(150.0)
    assert cloud.judge.kinds() == [judge.LOST]


def test_an_evacuation_without_a_fence_proof_is_a_violation():
    cloud = _cloud()
    scenario.apply(cloud, 'power off a1')
    cloud.hosts['a1'].forced_down = True
    cloud.nova_evacuate('vm-01', True, 'someone')
    assert cloud.judge.kinds() == [judge.NO_PROOF]
