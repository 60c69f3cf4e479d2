"""The decision core on hand-made observations."""

from nova_ha.engine import core
from nova_ha.engine import model
from nova_ha.engine import states

KEY = 'host_failure:c1:1'
PLAN = [{'id': 'vm-1', 'name': 'vm1', 'priority': 0, 'status': 'ACTIVE'}]


def _state(*issued):
    incident = states.Incident(KEY, 'c1', states.EVACUATING, 0.0, 0.0,
                               token=1, facts={'plan': PLAN, 'moved': {},
                                               'started': 0.0})
    return core.EngineState(incidents={KEY: incident},
                            issued=frozenset(issued))


def _obs(server, migrations=(), inflight=()):
    stored = model.StoredIncident(KEY, 'c1', states.EVACUATING, 0.0, 0.0,
                                  'me', 1, {'plan': PLAN, 'moved': {},
                                            'started': 0.0})
    return model.Observation(
        me='me', services={'c1': model.Service('c1', forced_down=True,
                                               up=False)},
        liveness={}, aggregates=(), incidents=(stored,),
        leases={KEY: 'mine'}, servers={}, vms={'vm-1': server},
        migrations={'vm-1': tuple(migrations)},
        inflight=frozenset(inflight))


def _actions(state, obs):
    _, actions = core.step(state, obs, 30.0)
    return [a for a in actions if not isinstance(a, (model.Save,
                                                     model.Note))]


def test_a_task_state_seen_while_our_request_is_in_flight_is_not_reset():
    # Nova sets task_state rebuilding before it writes the migration: a
    # look between the two must not take the task for a stale one.
    evacuate = model.Evacuate(incident=KEY, token=1, vm='vm-1', attempt=1)
    server = model.Server('vm-1', 'vm1', 'c1', 'ACTIVE', 'rebuilding')
    acts = _actions(_state(evacuate.id), _obs(server,
                                              inflight=[evacuate.id]))
    assert acts == []


def test_a_task_state_with_nothing_in_flight_is_reset():
    server = model.Server('vm-1', 'vm1', 'c1', 'ACTIVE', 'powering-off')
    (reset,) = _actions(_state(), _obs(server))
    assert isinstance(reset, model.ResetStaleTask)
    assert (reset.vm, reset.task_state, reset.token) == (
        'vm-1', 'powering-off', 1)


def test_an_idle_vm_is_evacuated_once_not_twice():
    server = model.Server('vm-1', 'vm1', 'c1', 'ACTIVE')
    state, actions = core.step(_state(), _obs(server), 30.0)
    (evacuate,) = [a for a in actions if isinstance(a, model.Evacuate)]
    _, again = core.step(state, _obs(server, inflight=[evacuate.id]), 31.0)
    assert not [a for a in again if isinstance(a, model.Evacuate)]


def test_a_move_begun_by_an_earlier_owner_is_followed():
    server = model.Server('vm-1', 'vm1', 'c1', 'ACTIVE', 'rebuilding')
    accepted = model.Migration('m1', 'vm-1', 'evacuation', 'accepted', 'c1',
                               None, 5.0)
    assert _actions(_state(), _obs(server, [accepted])) == []


def test_guards_are_judged_only_on_a_fresh_look():
    # A look that reused recent reads of Nova (services, aggregates) may
    # miss a maintenance mark set a moment ago: no fence from it.
    incident = states.Incident('host_failure:c1:1', 'c1', states.CONFIRMING,
                               0.0, 0.0, token=1)
    state = core.EngineState(incidents={incident.key: incident},
                             power={'c1': ('off', 29.9)})
    stored = model.StoredIncident(incident.key, 'c1', states.CONFIRMING,
                                  0.0, 0.0, 'me', 1, {})
    services = {'c1': model.Service('c1', up=False),
                'c2': model.Service('c2')}
    aggregates = (model.Aggregate('1', 'seg', ('c1', 'c2'),
                                  {'ha:segment': 'seg'}),)

    def look(fresh):
        return model.Observation(
            me='me', services=services, liveness={'c1': model.LOST},
            aggregates=aggregates, incidents=(stored,),
            leases={incident.key: 'mine'}, servers={}, vms={},
            migrations={}, fresh=fresh)
    settings = core.Settings(default_fence_driver='ipmi')
    stale_state, actions = core.step(state, look(False), 30.0, settings)
    assert not [a for a in actions if isinstance(a, model.Save) and
                a.state == states.FENCING]
    assert stale_state.needs_fresh and stale_state.look_again
    _, actions = core.step(state, look(True), 30.0, settings)
    assert [a for a in actions if isinstance(a, model.Save) and
            a.state == states.FENCING]


def _confirming_step(power, service, now=100.1):
    """One step of an incident of c1 opened at 100.0, in confirming."""
    incident = states.Incident('host_failure:c1:1', 'c1', states.CONFIRMING,
                               100.0, 100.0, token=1)
    state = core.EngineState(incidents={incident.key: incident},
                             power=power)
    stored = model.StoredIncident(incident.key, 'c1', states.CONFIRMING,
                                  100.0, 100.0, 'me', 1, {})
    obs = model.Observation(
        me='me', services={'c1': service, 'c2': model.Service('c2')},
        liveness={'c1': model.LOST},
        aggregates=(model.Aggregate('1', 'seg', ('c1', 'c2'),
                                    {'ha:segment': 'seg'}),),
        incidents=(stored,), leases={incident.key: 'mine'}, servers={},
        vms={}, migrations={}, fresh=True)
    _, actions = core.step(state, obs, now,
                           core.Settings(default_fence_driver='ipmi'))
    return actions


def _fences(actions):
    return [a for a in actions
            if isinstance(a, model.Save) and a.state == states.FENCING]


def test_a_power_reading_from_before_the_incident_decides_nothing():
    # The lab's hang scenario: the BMC said "off" during the host's
    # previous failure; the host was repaired and has now hung with its
    # power on.  That old reading must not skip the second channel.
    actions = _confirming_step(
        power={'c1': ('off', 20.0)},
        service=model.Service('c1', up=True, heartbeat_age=1.0))
    assert not _fences(actions)
    assert [a for a in actions if isinstance(a, model.ReadPower)]


def test_nova_down_by_our_own_heartbeat_is_not_a_stale_db_heartbeat():
    # With servicegroup_driver = nova_ha, Nova's "down" is the same lost
    # heartbeat the incident opened on, not a second channel: the DB
    # heartbeat's age (3 s) says the host may be alive behind a partition.
    waiting = _confirming_step(
        power={'c1': ('on', 100.05)},
        service=model.Service('c1', up=False, heartbeat_age=3.0))
    assert not _fences(waiting)
    stale = _confirming_step(
        power={'c1': ('on', 100.05)},
        service=model.Service('c1', up=False, heartbeat_age=25.0))
    assert _fences(stale)
