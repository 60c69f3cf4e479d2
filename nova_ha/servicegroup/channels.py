"""What a host's segment peers see of it: a channel of its own, pure logic.

The monitors of a failover segment probe each other over a second network
(the storage network in production) and publish what they heard as a
``PeerView``.  The engine judges a suspect host from its peers' views:

============  ===============================================  ==============
verdict       when                                             meaning
============  ===============================================  ==============
REACHABLE     a fresh view heard the host within silent_after  alive: at most
                                                               isolated
UNREACHABLE   fresh views from a majority of its peers, none   silent on this
              of which heard it within silent_after            channel too
None          no peers, or too few fresh views                 this channel
                                                               cannot see it
============  ===============================================  ==============

A host whose coordination heartbeats are lost but whose peers still hear
it lost one network, not its life: fencing it would kill healthy guests.

A view keeps two ages per peer:

- ``heard``: since the peer last answered one of the observer's own
  probes (the answer echoes the probe's nonce, so a replayed or forged
  answer is refused).  Only this says the peer is alive now, and only
  this counts for a monitor's own quorum (``peer_quorum``): probes a host
  merely receives prove nothing about its own path out.
- ``contact``: since any datagram from the peer verified (its probes
  included).  A peer can have had an answer from the observer only after
  one of its probes reached the observer, so this bounds when the peer
  last held quorum through the observer (``peer_quorum_lost_at``, the
  watchdog rung's wait).

Times in a view are the observer's (``at``, and ages at ``at``); monitors
and engines keep their clocks in step (NTP), and the safe wait of the
watchdog rung carries a margin for what is left (see self_fence).
"""

import dataclasses
from typing import Optional

REACHABLE = 'reachable'
UNREACHABLE = 'unreachable'
NEVER = float('-inf')


@dataclasses.dataclass(frozen=True)
class WatchdogReport:
    """A monitor's watchdog as it announces it in every probe answer."""

    kind: Optional[str]          # hardware, ipmi, softdog, software; None
    armed: bool = False          # armed, and its last feed went through
    timeout: float = 0.0         # the watchdog fires this long after a feed
    quorum_timeout: float = 0.0  # feeding stops this long after quorum
    feed_interval: float = 0.0
    # The peers whose answers count for the host's quorum (a majority of
    # them): the engine bounds the host's quorum over exactly this set.
    # None: not announced (the rung is not taken for such a host).
    peers: Optional[tuple] = None
    # How long after its probe an answer still counts (it may have been
    # held back that long): added to the safe wait.
    answer_window: float = 0.0

    def to_dict(self):
        data = dataclasses.asdict(self)
        if self.peers is not None:
            data['peers'] = sorted(self.peers)
        return data

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            return None
        try:
            peers = data.get('peers')
            if peers is not None:
                if not isinstance(peers, (list, tuple)):
                    return None
                peers = tuple(sorted(str(p) for p in peers))
            return cls(kind=data.get('kind'), armed=bool(data.get('armed')),
                       timeout=float(data.get('timeout') or 0),
                       quorum_timeout=float(data.get('quorum_timeout') or 0),
                       feed_interval=float(data.get('feed_interval') or 0),
                       peers=peers,
                       answer_window=float(data.get('answer_window') or 0))
        except (TypeError, ValueError):
            return None


@dataclasses.dataclass(frozen=True)
class PeerView:
    """One monitor's view of its peers, as it published it."""

    observer: str
    at: float                     # when written, the observer's clock
    heard: dict                   # peer -> seconds since it last answered
                                  # one of our probes, at ``at``
    watchdogs: dict = dataclasses.field(default_factory=dict)
    # peer -> WatchdogReport from its latest answer
    watchdog: Optional[WatchdogReport] = None   # the observer's own
    # peer -> seconds since any verified datagram from it (probes too);
    # None: not published (a view from before; ``heard`` stands in).
    contact: Optional[dict] = None

    def last_heard(self, host):
        """When ``host`` last answered the observer (alive then)."""
        age = self.heard.get(host)
        return NEVER if age is None else self.at - age

    def last_contact(self, host):
        """When the observer last received anything from ``host``: the
        latest the host can have had an answer from the observer."""
        if self.contact is None:
            return self.last_heard(host)
        ages = [a for a in (self.contact.get(host), self.heard.get(host))
                if a is not None]
        return self.at - min(ages) if ages else NEVER

    def to_dict(self):
        data = {'observer': self.observer, 'at': self.at,
                'heard': dict(self.heard),
                'watchdogs': {h: w.to_dict()
                              for h, w in self.watchdogs.items()},
                'watchdog': self.watchdog.to_dict() if self.watchdog
                else None}
        if self.contact is not None:
            data['contact'] = dict(self.contact)
        return data

    @classmethod
    def from_dict(cls, data):
        """A view read from the backend; None when it is not one."""
        try:
            heard = {str(h): (None if a is None else float(a))
                     for h, a in (data.get('heard') or {}).items()}
            watchdogs = {}
            for h, w in (data.get('watchdogs') or {}).items():
                report = WatchdogReport.from_dict(w)
                if report is not None:
                    watchdogs[str(h)] = report
            contact = data.get('contact')
            if contact is not None:
                contact = {str(h): (None if a is None else float(a))
                           for h, a in contact.items()}
            return cls(observer=str(data['observer']), at=float(data['at']),
                       heard=heard, watchdogs=watchdogs,
                       watchdog=WatchdogReport.from_dict(data.get('watchdog')),
                       contact=contact)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


@dataclasses.dataclass(frozen=True)
class PeerThresholds:
    # A peer that has not heard the host this long calls it silent; keep
    # above 2 probe intervals so one lost datagram is no silence.
    silent_after: float = 1.5
    # A view older than this says nothing of now (monitors publish every
    # probe interval).
    view_max_age: float = 2.0


@dataclasses.dataclass(frozen=True)
class PeerJudgement:
    verdict: Optional[str]        # REACHABLE, UNREACHABLE or None
    reason: str


def majority(count):
    return count // 2 + 1


def holds_quorum(peers, answered_at, now, within, coordination_ok_at=None,
                 backend_lost=None):
    """A monitor holds quorum, and feeds its watchdog: its coordination
    heartbeat succeeded within ``within`` seconds of ``now``, or a
    majority of its peers answered its own probes within that time
    (peer_quorum), or every peer that did answer reports, in its answer,
    that it has lost the coordination backend too (``backend_lost``:
    peer -> bool).

    The last case is an outage of the backend, not this host's
    isolation, and feeding on is safe: the engines take a watchdog as
    proof only for a host the backend shows lost while it is up, and the
    answering peers, cut from it, publish no view there, so the engines
    count them as peers that may still hear the host.
    """
    if coordination_ok_at is not None and now - coordination_ok_at <= within:
        return True
    if peer_quorum(peers, answered_at, now, within):
        return True
    answering = [p for p in set(peers)
                 if now - answered_at.get(p, NEVER) <= within]
    return bool(answering) and all((backend_lost or {}).get(p)
                                   for p in answering)


def peer_quorum(peers, answered_at, now, within):
    """A monitor holds peer quorum: a majority of ``peers`` answered one
    of its own probes within ``within`` seconds of ``now``.

    :param answered_at: peer -> when its latest answer to one of our
        probes (nonce checked) arrived; probes merely received from a
        peer are not answers: a host whose own sending is broken still
        receives them, and must not feed its watchdog on them.
    """
    peers = set(peers)
    if not peers:
        return False
    recent = sum(1 for p in peers
                 if now - answered_at.get(p, NEVER) <= within)
    return recent >= majority(len(peers))


def fresh(view, now, thresholds=PeerThresholds()):
    """The view was written recently enough to speak of now.  A view
    whose time is far off the engine's clock either way (a stalled
    observer, or a clock that drifted) says nothing of now."""
    return abs(now - view.at) <= thresholds.view_max_age


def judge_peers(host, peers, views, now, thresholds=PeerThresholds(),
                probers_only=False, is_fresh=None):
    """The peer channel's verdict on ``host``.

    Hearing is judged by the ages a view carries, measured on its
    observer's own clock when it was written: comparing the observer's
    clock with the engine's would turn a small skew into silence.

    :param peers: the other hosts of the host's segment (whose monitors
        probe it)
    :param views: observer -> PeerView, as read now; a view that does
        not list the host among its peers says nothing of it
    :param probers_only: the peers are those whose views list the host
        (hosts in no segment: their monitors choose whom they probe)
    :param is_fresh: view -> whether it speaks of now (default: its time
        within view_max_age of ``now``)
    """
    is_fresh = is_fresh or (lambda v: fresh(v, now, thresholds))
    peers = sorted(set(peers) - {host})
    if probers_only:
        peers = [p for p in peers if p in views and host in views[p].heard]
    if not peers:
        return PeerJudgement(None, 'no peers probe it')
    current = [views[p] for p in peers
               if p in views and is_fresh(views[p]) and
               host in views[p].heard]
    hearing = sorted(v.observer for v in current
                     if v.heard.get(host) is not None and
                     v.heard[host] < thresholds.silent_after)
    if hearing:
        return PeerJudgement(REACHABLE, '%s still hear%s it' % (
            ', '.join(hearing), 's' if len(hearing) == 1 else ''))
    need = majority(len(peers))
    if len(current) < need:
        return PeerJudgement(None, 'only %d of %d peers report (%d needed)'
                             % (len(current), len(peers), need))
    return PeerJudgement(UNREACHABLE, '%s hear nothing from it' % ', '.join(
        sorted(v.observer for v in current)))


def peer_quorum_lost_at(host, peers, views, now,
                        thresholds=PeerThresholds(), dead_since=None,
                        is_fresh=None):
    """The time, on the engine's clock, after which ``host`` cannot have
    had answers from a majority of its peers (NEVER without peers: it
    never holds quorum through them).

    A peer answers only a probe that reached it, so its ``contact`` with
    the host bounds the answers; a fresh view's contact age is counted
    back from now, never from the view's own time (a peer whose clock
    runs late would otherwise move the bound earlier).

    A peer whose view is missing or not fresh has lost the backend, or
    is dead: unless it was proven powered off (``dead_since``: host ->
    since when), it may be answering the host right now, and telling it
    the backend is down too, which keeps the host feeding whatever the
    majority (holds_quorum): then the host may hold quorum now.
    """
    peers = sorted(set(peers) - {host})
    if not peers:
        return NEVER
    is_fresh = is_fresh or (lambda v: fresh(v, now, thresholds))
    dead_since = dead_since or {}
    bounds = []
    for peer in peers:
        view = views.get(peer)
        if peer in dead_since:
            bound = dead_since[peer]
        elif view is None or not is_fresh(view):
            return now
        else:
            ages = [a for a in (view.heard.get(host),
                                (view.contact or {}).get(host))
                    if a is not None]
            bound = now - min(ages) if ages else NEVER
        bounds.append(min(bound, now))
    return sorted(bounds)[majority(len(peers)) - 1]


def latest_watchdog(host, views):
    """(report, at): the newest watchdog report about ``host``, from its
    own view or its peers' answers; (None, NEVER) when there is none."""
    best = (None, NEVER)
    for view in views.values():
        if view.observer == host and view.watchdog is not None:
            candidate = (view.watchdog, view.at)
        elif host in view.watchdogs:
            candidate = (view.watchdogs[host], view.last_heard(host))
        else:
            continue
        if candidate[1] > best[1]:
            best = candidate
    return best
