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

Peers count as having heard a host when it answered their probe or when
its own probe reached them: a peer that heard nothing from the host since
``t`` cannot have answered it since ``t`` either.  That is what lets the
watchdog rung bound when the host lost a majority of its peers
(``peer_quorum_lost_at``).

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

    kind: Optional[str]          # hardware, softdog, software; None: none
    armed: bool = False
    timeout: float = 0.0         # the watchdog fires this long after a feed
    quorum_timeout: float = 0.0  # feeding stops this long after quorum
    feed_interval: float = 0.0

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            return None
        try:
            return cls(kind=data.get('kind'), armed=bool(data.get('armed')),
                       timeout=float(data.get('timeout') or 0),
                       quorum_timeout=float(data.get('quorum_timeout') or 0),
                       feed_interval=float(data.get('feed_interval') or 0))
        except (TypeError, ValueError):
            return None


@dataclasses.dataclass(frozen=True)
class PeerView:
    """One monitor's view of its peers, as it published it."""

    observer: str
    at: float                     # when written, the observer's clock
    heard: dict                   # peer -> seconds since heard, at ``at``
    watchdogs: dict = dataclasses.field(default_factory=dict)
    # peer -> WatchdogReport from its latest answer
    watchdog: Optional[WatchdogReport] = None   # the observer's own

    def last_heard(self, host):
        age = self.heard.get(host)
        return NEVER if age is None else self.at - age

    def to_dict(self):
        return {'observer': self.observer, 'at': self.at,
                'heard': dict(self.heard),
                'watchdogs': {h: w.to_dict()
                              for h, w in self.watchdogs.items()},
                'watchdog': self.watchdog.to_dict() if self.watchdog
                else None}

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
            return cls(observer=str(data['observer']), at=float(data['at']),
                       heard=heard, watchdogs=watchdogs,
                       watchdog=WatchdogReport.from_dict(data.get('watchdog')))
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


def judge_peers(host, peers, views, now, thresholds=PeerThresholds()):
    """The peer channel's verdict on ``host``.

    :param peers: the other hosts of the host's segment (whose monitors
        probe it)
    :param views: observer -> PeerView, as read now
    """
    peers = sorted(set(peers) - {host})
    if not peers:
        return PeerJudgement(None, 'no peers in its segment')
    fresh = [views[p] for p in peers if p in views and
             now - views[p].at <= thresholds.view_max_age]
    hearing = sorted(v.observer for v in fresh
                     if now - v.last_heard(host) < thresholds.silent_after)
    if hearing:
        return PeerJudgement(REACHABLE, '%s still hear%s it' % (
            ', '.join(hearing), 's' if len(hearing) == 1 else ''))
    need = majority(len(peers))
    if len(fresh) < need:
        return PeerJudgement(None, 'only %d of %d peers report (%d needed)'
                             % (len(fresh), len(peers), need))
    return PeerJudgement(UNREACHABLE, '%s hear nothing from it' % ', '.join(
        sorted(v.observer for v in fresh)))


def peer_quorum_lost_at(host, peers, views, now):
    """The time after which ``host`` cannot have had answers from a
    majority of its peers (NEVER without peers: it never holds quorum
    through them).  A peer whose view is missing or stale may be hearing
    it right now."""
    peers = sorted(set(peers) - {host})
    if not peers:
        return NEVER
    heard = sorted(views[p].last_heard(host) if p in views else now
                   for p in peers)
    return heard[majority(len(peers)) - 1]


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
