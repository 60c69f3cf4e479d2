"""The watchdog rung: when a silent host has certainly reset itself.

nova-ha-monitor arms a watchdog and feeds it only while it holds quorum:
its own coordination heartbeat succeeded, or a majority of its segment's
peers answered, within ``quorum_timeout`` (Q).  A host that lost both
stops feeding, and the watchdog fires ``timeout`` (W) after the last feed
(it resets the host, or SIGKILLs its guests and nova-compute).

The safe wait, after SBD's (msgwait = 2 x watchdog timeout) and medik8s'
self-node-remediation's (API-check time + watchdog timeout + margin)
rules, specialised to what the engine can bound:

    lost_at = max(coordination lost, peer majority lost)
    safe_at = lost_at + A + Q + F + W + margin

- coordination lost: when the engine first saw the host's coordination
  heartbeat lost in this incident (it wrote none after that); a host
  whose heartbeat was never seen lost (an escalation that opened on a
  live host) may hold quorum through the backend: no rung;
- peer majority lost: ``channels.peer_quorum_lost_at`` over the peers
  the host announced (a peer that heard nothing from the host cannot
  have answered it); the engine's idea of the segment is not used, since
  a peer only the host's monitor lists still counts for its quorum;
- a host that still publishes its own peer view reaches the backend: it
  lives, and no wait makes its watchdog a proof;
- A (how long after its probe an answer still counts), Q, F (feed
  interval) and W are what the host itself announced in its probe
  answers, never the engine's guess; F covers a feed decided just before
  the check that stopped feeding;
- margin: clock skew between host and engine plus the time the watchdog's
  action takes (``[fencing] watchdog_margin``).

``judge`` is pure: the reports in, "not possible", "wait until" or
"proven" out.
"""

import dataclasses
from typing import Optional

from nova_ha.servicegroup import channels

HARDWARE = 'hardware'     # a watchdog device that resets a wedged kernel
IPMI = 'ipmi'             # the BMC's watchdog: dies with the BMC
SOFTDOG = 'softdog'       # a kernel timer: frozen with a wedged kernel
SOFTWARE = 'software'     # a process: frozen with a frozen host
KINDS = (HARDWARE, IPMI, SOFTDOG, SOFTWARE)

MIN_MARGIN = 1.0


class UnsafeTimings(ValueError):
    """Timings with which the watchdog rung would not be safe."""


@dataclasses.dataclass(frozen=True)
class RungSettings:
    # Watchdog kinds whose firing the engine believes: only a device that
    # resets a wedged kernel.  softdog is a kernel timer and the software
    # watchdog a process: a hung host freezes both, and its guests resume
    # after its VMs were rebuilt elsewhere.  The IPMI watchdog lives in
    # the BMC whose failure is why the rung is used at all.
    kinds: tuple = (HARDWARE,)
    margin: float = 5.0
    # An armed report counts only if the host sent it this close to the
    # loss of its heartbeat ("armed within the last interval").
    evidence_window: float = 10.0

    def __post_init__(self):
        check_engine_timings(self.margin, self.evidence_window, self.kinds)


def check_engine_timings(margin, evidence_window, kinds):
    if margin < MIN_MARGIN:
        raise UnsafeTimings('watchdog_margin = %.1f s is below %.1f s: it '
                            'must cover the clock skew between hosts and '
                            'engines and the watchdog\'s own action'
                            % (margin, MIN_MARGIN))
    if evidence_window <= 0:
        raise UnsafeTimings('the evidence window must be positive')
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise UnsafeTimings('unknown watchdog kinds %s (known: %s)' % (
            ', '.join(unknown), ', '.join(KINDS)))


def check_monitor_timings(timeout, feed_interval, quorum_timeout,
                          heartbeat_interval, probe_interval):
    """Refuse monitor timings that reset healthy hosts or that cannot be
    bounded; returns None, raises UnsafeTimings naming the option."""
    if timeout <= 0 or feed_interval <= 0 or quorum_timeout <= 0:
        raise UnsafeTimings('[watchdog] timeout, feed_interval and '
                            'quorum_timeout must be positive')
    if feed_interval * 2 > timeout:
        raise UnsafeTimings(
            '[watchdog] feed_interval = %.1f s is more than half of timeout '
            '= %.1f s: one late feed would reset a healthy host'
            % (feed_interval, timeout))
    floor = 2 * max(heartbeat_interval, probe_interval)
    if quorum_timeout < floor:
        raise UnsafeTimings(
            '[watchdog] quorum_timeout = %.1f s is below two heartbeat or '
            'probe intervals (%.1f s): a single lost beat would stop the '
            'feeding' % (quorum_timeout, floor))


@dataclasses.dataclass(frozen=True)
class RungJudgement:
    possible: bool
    reason: str
    safe_at: Optional[float] = None
    proof: Optional[dict] = None     # recorded with the incident


def safe_at(lost_at, report, margin):
    # An answer counts for the host's quorum up to answer_window after
    # the probe it answers: the last answer may have been that late.
    return lost_at + report.answer_window + report.quorum_timeout + \
        report.feed_interval + report.timeout + margin


def judge(host, views, lost_at, now, settings=RungSettings(),
          thresholds=channels.PeerThresholds(), dead_since=None,
          is_fresh=None):
    """Whether the watchdog rung may prove ``host`` powered off, and when.

    :param views: observer -> channels.PeerView (the host's own included,
        when the backend still has it), of the host and of the peers it
        announced
    :param lost_at: when the engine first saw the host's coordination
        heartbeat lost in this incident (None: never: the host may still
        hold quorum through the backend, and the rung is not possible)
    :param dead_since: peers proven powered off, and since when
    """
    report, reported_at = channels.latest_watchdog(host, views)
    if report is None or not report.armed:
        return RungJudgement(False, 'no armed watchdog reported')
    if report.kind not in settings.kinds:
        return RungJudgement(False, 'its watchdog is %s, not one the engine '
                             'believes (%s)' % (report.kind,
                                                ', '.join(settings.kinds)))
    if report.peers is None:
        return RungJudgement(False, 'it did not announce the peers its '
                             'quorum counts')
    if lost_at is None:
        return RungJudgement(False, 'its coordination heartbeat has not '
                             'been seen lost')
    is_fresh = is_fresh or (lambda v: channels.fresh(v, now, thresholds))
    own = views.get(host)
    if own is not None and is_fresh(own):
        return RungJudgement(False, 'it still publishes its peer view: it '
                             'lives')
    if reported_at < lost_at - settings.evidence_window:
        return RungJudgement(False, 'its armed watchdog was last reported '
                             '%.0f s before the heartbeat loss'
                             % (lost_at - reported_at))
    # Over the peers whose answers the host itself counts: one the
    # engine's segment does not list may still be answering it.
    peers_lost = channels.peer_quorum_lost_at(host, report.peers, views,
                                              now, thresholds, dead_since,
                                              is_fresh)
    lost_at = max(lost_at, peers_lost)
    at = safe_at(lost_at, report, settings.margin)
    proof = {'rung': 'watchdog', 'kind': report.kind,
             'timeout': report.timeout,
             'quorum_timeout': report.quorum_timeout,
             'feed_interval': report.feed_interval,
             'margin': settings.margin, 'lost_at': round(lost_at, 3),
             'safe_at': round(at, 3), 'peers': sorted(report.peers)}
    if now < at:
        return RungJudgement(True, '%s watchdog (%.0f s) armed: it has '
                             'reset the host by %.1f s from now' % (
                                 report.kind, report.timeout, at - now),
                             safe_at=at, proof=proof)
    return RungJudgement(True, '%s watchdog (%.0f s) armed, quorum lost at '
                         'the latest %.1f s ago: the host has reset itself'
                         % (report.kind, report.timeout, now - lost_at),
                         safe_at=at, proof=proof)
