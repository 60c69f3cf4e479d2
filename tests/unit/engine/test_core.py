"""The decision core on hand-made observations."""

from nova_ha.engine import core
from nova_ha.engine import model
from nova_ha.engine import states
from nova_ha.servicegroup import channels
from nova_ha.servicegroup import self_fence

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


def _confirming_step(power, service, now=100.1, peer_views=None,
                     metadata=None):
    """One step of an incident of c1 opened at 100.0 on its lost
    heartbeat, in confirming."""
    incident = states.Incident('host_failure:c1:1', 'c1', states.CONFIRMING,
                               100.0, 100.0, token=1,
                               facts={'liveness_lost_at': 100.0})
    state = core.EngineState(incidents={incident.key: incident},
                             power=power)
    stored = model.StoredIncident(incident.key, 'c1', states.CONFIRMING,
                                  100.0, 100.0, 'me', 1,
                                  dict(incident.facts))
    obs = model.Observation(
        me='me', services={'c1': service, 'c2': model.Service('c2')},
        liveness={'c1': model.LOST},
        aggregates=(model.Aggregate('1', 'seg', ('c1', 'c2'), dict(
            {'ha:segment': 'seg'}, **(metadata or {}))),),
        incidents=(stored,), leases={incident.key: 'mine'}, servers={},
        vms={}, migrations={}, fresh=True, peer_views=peer_views)
    _, actions = core.step(state, obs, now,
                           core.Settings(default_fence_driver='ipmi',
                                         watchdog=self_fence.RungSettings(
                                             kinds=('softdog',))))
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


def _peer(heard_age, at, watchdog=None):
    """c2's view of c1, written at ``at``."""
    return {'c2': channels.PeerView(
        'c2', at, {'c1': heard_age},
        watchdogs={'c1': watchdog} if watchdog else {})}


def _saved_states(actions):
    return [a.state for a in actions if isinstance(a, model.Save)]


def test_a_hung_host_is_fenced_when_every_channel_is_silent():
    # Power on, Nova's heartbeat 1 s old (it is written every 10 s), both
    # coordination heartbeats and its peer silent: it hangs; no 20 s wait.
    actions = _confirming_step(
        power={'c1': ('on', 100.05)},
        service=model.Service('c1', up=True, heartbeat_age=1.0),
        now=102.0, peer_views=_peer(2.5, 101.9))
    assert _fences(actions)


def test_an_isolated_host_is_never_fenced_while_its_peers_hear_it():
    # Its management network is down: Nova's heartbeat is long stale,
    # which alone (R5) would fence it, but its peer hears it.
    actions = _confirming_step(
        power={'c1': ('on', 130.0)},
        service=model.Service('c1', up=False, heartbeat_age=40.0),
        now=130.1, peer_views=_peer(0.2, 130.0))
    assert not _fences(actions)
    assert states.PARKED not in _saved_states(actions)


ARMED = channels.WatchdogReport('softdog', True, timeout=10.0,
                                quorum_timeout=3.0, feed_interval=1.0,
                                peers=('c2',))


def test_a_dead_bmc_is_replaced_by_the_watchdog_after_the_safe_wait():
    # Opened at 100; its peer last heard it at 99.5: safe at
    # 100 + 3 + 1 + 10 + 5 = 119.
    power = {'c1': ('unknown', 101.0)}
    # nova-compute last reported at 95, before the loss.
    early = _confirming_step(power, model.Service(
        'c1', up=True, heartbeat_age=15.0), now=110.0,
        peer_views=_peer(10.5, 110.0, ARMED))
    assert not _fences(early)
    assert states.FENCED not in _saved_states(early)
    (save,) = [a for a in early if isinstance(a, model.Save)]
    assert save.facts['until'] == 119.0
    done = _confirming_step(power, model.Service(
        'c1', up=True, heartbeat_age=24.0), now=119.0,
        peer_views=_peer(19.5, 119.0, ARMED))
    assert states.FENCED in _saved_states(done)
    (save,) = [a for a in done if isinstance(a, model.Save)]
    assert save.facts['proof']['rung'] == 'watchdog'
    assert [r for r in save.records if getattr(r, 'outcome', None) ==
            'self_fenced']


def test_no_watchdog_rung_where_the_segment_ladder_has_none():
    done = _confirming_step(
        {'c1': ('unknown', 101.0)},
        model.Service('c1', up=True, heartbeat_age=1.0), now=125.0,
        peer_views=_peer(25.5, 125.0, ARMED),
        metadata={'ha:fencing': 'bmc,operator'})
    assert states.FENCED not in _saved_states(done)


def test_no_watchdog_rung_while_its_peer_still_hears_it():
    done = _confirming_step(
        {'c1': ('unknown', 101.0)},
        model.Service('c1', up=True, heartbeat_age=1.0), now=125.0,
        peer_views=_peer(0.1, 125.0, ARMED))
    assert states.FENCED not in _saved_states(done)


def test_a_dead_nova_compute_escalation_ends_when_it_reports_again():
    # Held by the guards, the incident of a live host whose nova-compute
    # was silent past compute_dead_fence_after: nova-compute reporting
    # again cancels it; the host heartbeat being alive does not.
    incident = states.Incident('host_failure:c1:1', 'c1', states.HELD,
                               100.0, 100.0, token=1,
                               facts={'policy': core.COMPUTE_DEAD,
                                      'failures': [100.0]})
    stored = model.StoredIncident(incident.key, 'c1', states.HELD, 100.0,
                                  100.0, 'me', 1, dict(incident.facts))
    settings = core.Settings(default_fence_driver='ipmi',
                             compute_dead_fence_after=90.0)

    def step(heartbeat_age):
        obs = model.Observation(
            me='me', services={'c1': model.Service(
                'c1', up=False, heartbeat_age=heartbeat_age)},
            liveness={'c1': model.ALIVE}, aggregates=(),
            incidents=(stored,), leases={incident.key: 'mine'}, servers={},
            vms={}, migrations={}, fresh=True)
        _, actions = core.step(core.EngineState(
            incidents={incident.key: incident}), obs, 130.0, settings)
        return _saved_states(actions)
    assert states.CANCELLED not in step(120.0)
    assert states.CANCELLED in step(3.0)


def _escalation_opens(process_down, services=None, **settings):
    services = services or {
        'c1': model.Service('c1', up=False, heartbeat_age=500.0),
        'c2': model.Service('c2', heartbeat_age=3.0),
        'c3': model.Service('c3', heartbeat_age=3.0)}
    obs = model.Observation(
        me='me', services=services, liveness={'c1': model.ALIVE},
        aggregates=(), incidents=(), leases={}, servers={}, vms={},
        migrations={}, fresh=True, process_down=process_down)
    _, actions = core.step(core.EngineState(), obs, 600.0, core.Settings(
        default_fence_driver='ipmi', **settings))
    return [a.host for a in actions if isinstance(a, model.OpenIncident)]


def test_no_escalation_of_a_dead_nova_compute_unless_asked():
    assert _escalation_opens({'c1': 200.0}) == []
    assert _escalation_opens(
        {'c1': 200.0}, compute_dead_fence_after=300.0) == ['c1']


def test_no_escalation_without_the_monitors_report():
    # Nova's silence alone is also what a conductor outage looks like.
    assert _escalation_opens({}, compute_dead_fence_after=300.0) == []
    assert _escalation_opens(None, compute_dead_fence_after=300.0) == []


def test_no_escalation_while_many_hosts_are_silent_together():
    silent = {h: model.Service(h, up=False, heartbeat_age=500.0)
              for h in ('c1', 'c2', 'c3')}
    assert _escalation_opens({'c1': 200.0}, silent,
                             compute_dead_fence_after=300.0) == []


def _attested_confirming_step(service):
    """c1 confirming since 100 (opened on its lost heartbeat, BMC
    unreachable); an operator attests it off; one step at 140."""
    incident = states.Incident('host_failure:c1:1', 'c1', states.CONFIRMING,
                               100.0, 100.0, token=1,
                               facts={'liveness_lost_at': 100.0})
    stored = model.StoredIncident(
        incident.key, 'c1', states.CONFIRMING, 100.0, 100.0, 'me', 1,
        dict(incident.facts), operator={'confirm_down': {
            'who': 'alice', 'reason': 'it is off'}})
    obs = model.Observation(
        me='me', services={'c1': service, 'c2': model.Service('c2')},
        liveness={'c1': model.LOST},
        aggregates=(model.Aggregate('1', 'seg', ('c1', 'c2'),
                                    {'ha:segment': 'seg'}),),
        incidents=(stored,), leases={incident.key: 'mine'}, servers={},
        vms={}, migrations={}, fresh=True)
    state = core.EngineState(incidents={incident.key: incident},
                             power={'c1': ('unknown', 139.0)})
    _, actions = core.step(state, obs, 140.0,
                           core.Settings(default_fence_driver='ipmi'))
    return actions


def test_a_confirm_down_while_confirming_is_acted_on():
    actions = _attested_confirming_step(
        model.Service('c1', up=False, heartbeat_age=45.0))
    assert states.FENCED in _saved_states(actions)


def test_a_confirm_down_is_void_while_nova_compute_still_reports():
    # nova-compute reported 2 s ago, 38 s after the incident opened: the
    # host lives (only its coordination link is down).
    actions = _attested_confirming_step(
        model.Service('c1', up=True, heartbeat_age=2.0))
    assert states.FENCED not in _saved_states(actions)
    assert [a for a in actions if isinstance(a, model.Save) and any(
        getattr(r, 'outcome', None) == 'proof_void' for r in a.records)]
