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
