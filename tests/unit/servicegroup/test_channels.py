"""The peer channel's table, and the safe wait of the watchdog rung."""

import pytest

from nova_ha.servicegroup import channels
from nova_ha.servicegroup import confirm
from nova_ha.servicegroup import self_fence

NOW = 1000.0
ARMED = channels.WatchdogReport(kind='softdog', armed=True, timeout=10.0,
                                quorum_timeout=3.0, feed_interval=1.0,
                                peers=('a2', 'a3', 'a4'))


def view(observer, at=NOW, watchdogs=None, watchdog=None, **heard):
    return channels.PeerView(observer=observer, at=at, heard=heard,
                             watchdogs=watchdogs or {}, watchdog=watchdog)


def views(*items):
    return {v.observer: v for v in items}


# host a1; peers a2, a3, a4 (majority 2)
PEERS = ('a1', 'a2', 'a3', 'a4')


@pytest.mark.parametrize('given, verdict', [
    # one fresh peer hears it: reachable, whatever the others say
    (views(view('a2', a1=0.2), view('a3', a1=9.0), view('a4', a1=9.0)),
     channels.REACHABLE),
    # a majority of fresh peers, none hearing it: unreachable
    (views(view('a2', a1=3.0), view('a3', a1=3.0)), channels.UNREACHABLE),
    # "never heard" is silence too (a monitor lists every peer it probes)
    (views(view('a2', a1=None), view('a3', a1=None)), channels.UNREACHABLE),
    # only one fresh view of three peers: the channel cannot tell
    (views(view('a2', a1=3.0), view('a3', at=NOW - 5, a1=3.0)), None),
    # a stale view that heard it counts for nothing
    (views(view('a2', at=NOW - 5, a1=0.0), view('a3', a1=3.0),
           view('a4', a1=3.0)), channels.UNREACHABLE),
    # heard 1.4 s ago (silent_after 1.5): still reachable
    (views(view('a2', a1=1.4), view('a3', a1=3.0)), channels.REACHABLE),
    # the host's own view is not a peer's
    (views(view('a1', a2=0.0), view('a2', a1=3.0)), None),
])
def test_judge_peers(given, verdict):
    assert channels.judge_peers('a1', PEERS, given, NOW).verdict == verdict


def test_no_peers_no_verdict():
    judged = channels.judge_peers('c1', ('c1',), {}, NOW)
    assert judged.verdict is None
    assert 'no peers' in judged.reason


@pytest.mark.parametrize('given, lost_at', [
    # a2 heard it last at 990, a3 at 995, a4 at 998: the host lost its
    # majority (2 of 3) when a3 stopped hearing it
    (views(view('a2', a1=10.0), view('a3', a1=5.0), view('a4', a1=2.0)),
     995.0),
    # a missing view may be hearing it now, and telling it the backend
    # is down too: the host may hold quorum now
    (views(view('a2', a1=10.0), view('a3', a1=5.0)), NOW),
    (views(view('a2', a1=10.0)), NOW),
    # never heard by anybody
    (views(view('a2'), view('a3'), view('a4')), channels.NEVER),
])
def test_peer_quorum_lost_at(given, lost_at):
    assert channels.peer_quorum_lost_at('a1', PEERS, given, NOW) == lost_at


def test_views_round_trip_and_bad_input():
    v = view('a2', a1=1.5, watchdogs={'a1': ARMED}, watchdog=ARMED)
    assert channels.PeerView.from_dict(v.to_dict()) == v
    assert channels.PeerView.from_dict({'observer': 'a2'}) is None
    assert channels.PeerView.from_dict('garbage') is None
    assert channels.PeerView.from_dict(
        {'observer': 'a2', 'at': 'x', 'heard': {}}) is None


def test_latest_watchdog_prefers_the_newest_report():
    given = views(view('a1', at=NOW - 8, watchdog=ARMED),
                  view('a2', a1=5.0, watchdogs={'a1': ARMED}))
    assert channels.latest_watchdog('a1', given) == (ARMED, NOW - 5.0)
    assert channels.latest_watchdog('a9', given) == (None, channels.NEVER)


# -- the safe wait -----------------------------------------------------------

OPENED = 990.0
SETTINGS = self_fence.RungSettings(kinds=('softdog',), margin=5.0)


def silent_peers(age=10.0, report=ARMED, at=NOW):
    return views(*(view(p, at=at, **{'a1': age}, watchdogs={'a1': report})
                   for p in ('a2', 'a3', 'a4')))


@pytest.mark.parametrize('given, now, possible, safe_at', [
    # opened 990, peers silent since 990: 990 + Q 3 + F 1 + W 10 + 5
    (silent_peers(10.0), NOW, True, 1009.0),
    (silent_peers(19.0, at=1009.0), 1009.0, True, 1009.0),
    # views too old to speak of now: the peers may hear it now
    (silent_peers(10.0), 1009.0, True, 1009.0 + 19.0),
    # peers stopped hearing it later than the heartbeat loss: from then
    (silent_peers(4.0), NOW, True, 1015.0),
    # peers still hear it: quorum never lost, the wait keeps moving
    (silent_peers(0.0), NOW, True, NOW + 19.0),
    # its watchdog is not armed
    (silent_peers(10.0, channels.WatchdogReport('softdog', armed=False)),
     NOW, False, None),
    # a kind the engine does not believe (a frozen kernel freezes it)
    (silent_peers(10.0, channels.WatchdogReport(
        'software', True, 10.0, 3.0, 1.0, ('a2', 'a3', 'a4'))), NOW, False,
     None),
    # it did not say which peers its quorum counts
    (silent_peers(10.0, channels.WatchdogReport(
        'softdog', True, 10.0, 3.0, 1.0)), NOW, False, None),
    # armed, but reported long before the loss
    (silent_peers(30.0), NOW, False, None),
    # nothing reported at all
    ({}, NOW, False, None),
])
def test_watchdog_rung(given, now, possible, safe_at):
    rung = self_fence.judge('a1', given, OPENED, now, SETTINGS)
    assert rung.possible is possible, rung.reason
    assert rung.safe_at == safe_at
    if possible:
        assert rung.proof['rung'] == 'watchdog'
        assert (now >= safe_at) == ('has reset itself' in rung.reason)


def test_a_host_without_peers_counts_from_its_heartbeat_loss():
    alone = channels.WatchdogReport('softdog', True, 10.0, 3.0, 1.0, ())
    own = views(view('c1', at=OPENED - 1, watchdog=alone))
    rung = self_fence.judge('c1', own, OPENED, NOW, SETTINGS)
    assert rung.safe_at == OPENED + 3 + 1 + 10 + 5


def test_a_host_that_still_publishes_its_view_lives():
    own = views(view('c1', at=NOW - 0.5, watchdog=ARMED))
    rung = self_fence.judge('c1', own, OPENED, NOW, SETTINGS)
    assert not rung.possible and 'publishes' in rung.reason


def test_a_heartbeat_never_seen_lost_gives_no_rung():
    rung = self_fence.judge('a1', silent_peers(10.0), None, NOW, SETTINGS)
    assert not rung.possible and 'not been seen lost' in rung.reason


def test_the_quorum_is_bounded_over_the_peers_the_host_announced():
    # a2, a3 and a4 heard nothing for 10 s, but a1 also counts a9, which
    # heard it 0.5 s ago: a1 may still hold its quorum.
    report = channels.WatchdogReport('softdog', True, 10.0, 3.0, 1.0,
                                     ('a2', 'a9'))
    given = dict(silent_peers(10.0, report), a9=view('a9', a1=0.5))
    rung = self_fence.judge('a1', given, OPENED, NOW, SETTINGS)
    assert rung.safe_at == NOW - 0.5 + 19.0


@pytest.mark.parametrize('timings, error', [
    ((10, 1, 3, 0.5, 0.5), None),
    ((10, 6, 3, 0.5, 0.5), 'more than half'),
    ((10, 1, 0.5, 0.5, 0.5), 'below two'),
    ((0, 1, 3, 0.5, 0.5), 'positive'),
])
def test_monitor_timings(timings, error):
    if error is None:
        self_fence.check_monitor_timings(*timings)
    else:
        with pytest.raises(self_fence.UnsafeTimings, match=error):
            self_fence.check_monitor_timings(*timings)


def test_engine_refuses_a_margin_below_the_clock_skew():
    with pytest.raises(self_fence.UnsafeTimings, match='margin'):
        self_fence.RungSettings(margin=0.5)
    with pytest.raises(self_fence.UnsafeTimings, match='unknown'):
        self_fence.RungSettings(kinds=('magic',))


# -- the confirmation table's peer rows --------------------------------------

@pytest.mark.parametrize('bmc, peers, nova_age, lost_for, rule', [
    ('off', 'reachable', 1.0, 1.0, 'R2'),
    ('on', 'reachable', 1.0, 1.0, 'R10'),
    # isolated: a stale Nova heartbeat does not make it dead (not R5)
    ('on', 'reachable', 60.0, 30.0, 'R10'),
    ('unknown', 'reachable', 60.0, 30.0, 'R10'),
    ('on', 'reachable', 60.0, 130.0, 'R11'),
    # every channel silent: fenced at once, Nova's heartbeat not awaited
    ('on', 'unreachable', 1.0, 2.0, 'R12'),
    (None, 'unreachable', 1.0, 2.0, 'R12'),
    # the BMC cannot fence: the watchdog rung's business (R6/R7)
    ('unknown', 'unreachable', 1.0, 2.0, 'R6'),
    ('unknown', 'unreachable', 1.0, 130.0, 'R7'),
    # the peers cannot see it: the table as before
    ('on', None, 1.0, 2.0, 'R3'),
    ('on', None, 30.0, 2.0, 'R5'),
])
def test_confirm_with_peers(bmc, peers, nova_age, lost_for, rule):
    decision = confirm.confirm_host_down(True, bmc, nova_age, lost_for,
                                         peers=peers)
    assert decision.rule == rule


def test_confirm_refuses_an_unknown_peer_verdict():
    with pytest.raises(ValueError):
        confirm.confirm_host_down(True, 'on', 1.0, peers='maybe')


@pytest.mark.parametrize('kind', ['softdog', 'ipmi', 'software'])
def test_by_default_only_a_hardware_watchdog_is_believed(kind):
    report = channels.WatchdogReport(kind, True, 10.0, 3.0, 1.0,
                                     ('a2', 'a3', 'a4'))
    rung = self_fence.judge('a1', silent_peers(10.0, report), OPENED,
                            NOW + 60, self_fence.RungSettings())
    assert not rung.possible
    assert 'not one the engine believes (hardware)' in rung.reason


def test_peer_quorum_counts_answers_to_ones_own_probes():
    answered = {'a2': NOW - 1.0, 'a3': NOW - 10.0}
    assert channels.peer_quorum(('a2', 'a3', 'a4'), answered, NOW, 3.0) \
        is False
    answered['a4'] = NOW - 2.0
    assert channels.peer_quorum(('a2', 'a3', 'a4'), answered, NOW, 3.0)
    assert channels.peer_quorum((), {}, NOW, 3.0) is False


def test_a_peers_contact_bounds_the_hosts_quorum():
    # a2 got no answer from a1 for 10 s, but a1's probes reached a2 until
    # 1 s ago: a2 may have answered a1 until then.
    contact = channels.PeerView('a2', NOW, {'a1': 10.0},
                                contact={'a1': 1.0})
    given = views(contact, view('a3', a1=10.0), view('a4', a1=10.0))
    assert channels.peer_quorum_lost_at('a1', PEERS, given, NOW) == \
        NOW - 10.0
    given['a3'] = channels.PeerView('a3', NOW, {'a1': 10.0},
                                    contact={'a1': 2.0})
    assert channels.peer_quorum_lost_at('a1', PEERS, given, NOW) == \
        NOW - 2.0


def test_hearing_is_judged_on_the_observers_clock():
    # The engine's clock runs 1.8 s ahead: a view written "now" on a2's
    # clock, heard 0.1 s before, is not a silence.
    given = views(view('a2', at=NOW - 1.8, a1=0.1), view('a3', a1=3.0))
    assert channels.judge_peers('a1', PEERS, given, NOW).verdict == \
        channels.REACHABLE


def test_a_view_far_from_the_engines_clock_says_nothing():
    given = views(view('a2', at=NOW + 5.0, a1=3.0), view('a3', a1=3.0))
    assert channels.judge_peers('a1', PEERS, given, NOW).verdict is None


def test_the_quorum_bound_is_counted_back_from_now():
    # a3's clock runs 1.5 s late: its view (fresh) heard a1 5 s ago; the
    # bound is now - 5, not its own time - 5.
    given = views(view('a2', a1=4.0), view('a3', at=NOW - 1.5, a1=5.0),
                  view('a4', a1=9.0))
    assert channels.peer_quorum_lost_at('a1', PEERS, given, NOW) == \
        NOW - 5.0


def test_a_peer_proven_off_cannot_answer():
    # a3 and a4 were powered off by their BMCs at 990: their old views
    # say nothing of now, but they cannot have answered a1 since.
    given = views(view('a2', a1=9.0))
    assert channels.peer_quorum_lost_at('a1', PEERS, given, NOW) == NOW
    assert channels.peer_quorum_lost_at(
        'a1', PEERS, given, NOW, dead_since={'a3': 990.0, 'a4': 990.0}) \
        == 990.0


def test_a_view_that_does_not_list_the_host_says_nothing_of_it():
    # a3's monitor does not probe a1: its silence is no silence of a1.
    given = views(view('a2', a1=3.0), view('a3', a2=0.1),
                  view('a4', a2=0.1))
    assert channels.judge_peers('a1', PEERS, given, NOW).verdict is None


def test_hosts_in_no_segment_are_judged_by_those_that_probe_them():
    given = views(view('x2', x1=0.2), view('x3', x2=0.1), view('x4', x2=0.1))
    judged = channels.judge_peers('x1', ('x2', 'x3', 'x4'), given, NOW,
                                  probers_only=True)
    assert judged.verdict == channels.REACHABLE
    given['x2'] = view('x2', x1=3.0)
    judged = channels.judge_peers('x1', ('x2', 'x3', 'x4'), given, NOW,
                                  probers_only=True)
    assert judged.verdict == channels.UNREACHABLE
    assert channels.judge_peers('x1', ('x3', 'x4'), given, NOW,
                                probers_only=True).verdict is None


def test_a_host_feeds_on_peers_that_lost_the_backend_too():
    # a3 answers a1 and has lost the coordination backend as a1 has: an
    # outage of the backend, not a1's isolation.
    answered = {'a3': NOW - 0.5}
    assert not channels.holds_quorum(('a2', 'a3', 'a4'), answered, NOW, 3.0)
    assert channels.holds_quorum(('a2', 'a3', 'a4'), answered, NOW, 3.0,
                                 backend_lost={'a3': True})
    # One answering peer still reaches the backend: a1 is the isolated one.
    answered['a4'] = NOW - 0.5
    assert not channels.holds_quorum(('a2', 'a3', 'a4', 'a5', 'a6'),
                                     answered, NOW, 3.0,
                                     backend_lost={'a3': True, 'a4': False})
    assert channels.holds_quorum(('a2',), {}, NOW, 3.0,
                                 coordination_ok_at=NOW - 1.0)
