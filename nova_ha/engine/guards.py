"""May a confirmed host failure be fenced and evacuated now?  Pure rules.

Order of the guards (the first that refuses holds the incident; every one
is judged again on every reconcile, against what Nova shows then):

1. maintenance (aggregate ``ha:maintenance`` or the per-host mark);
2. a host in two segments (its storage boundary is unknown);
3. ``ha:enabled=false`` on the segment;
4. the settle wait: reports of one group that arrive less than
   ``settle_time`` apart form a run; its first ``burst`` hosts are judged at
   once (only hosts whose fencing powers them off), every later one waits
   ``settle_time`` after its own report and is judged with the run;
5. the storm guard: when at least two hosts of a group fail at once and
   they are ``max_share`` or more of the group, a partition is more likely
   than hardware deaths: hold and alert.  Only hosts failing now count
   (open incidents); a host recovered earlier and still down does not.
   Hosts in no segment form one group of their own.  A host whose BMC
   reports its power off, or that an operator confirmed down, is dead for
   certain and is not held by the storm guard.
"""

import dataclasses
from typing import Optional

from nova_ha.model import aggregates as ha_aggregates

NO_SEGMENT = '(no segment)'


@dataclasses.dataclass(frozen=True)
class Verdict:
    proceed: bool
    reason: str
    alert: bool = False
    until: Optional[float] = None     # a wait: judge again at this time


@dataclasses.dataclass(frozen=True)
class StormSettings:
    max_share: float = 0.5
    settle_time: float = 1.0
    burst: int = 1


def group_of(view):
    if view.segment is not None:
        return view.segment.name
    return NO_SEGMENT


def group_hosts(aggregates, services, group):
    """Every host of ``group`` (a segment's name, or NO_SEGMENT)."""
    segmented = set()
    members = set()
    for agg in aggregates:
        name = (agg.metadata.get(ha_aggregates.SEGMENT_KEY) or '').strip()
        if ha_aggregates.SEGMENT_KEY in agg.metadata:
            segmented.update(agg.hosts)
            if name == group:
                members.update(agg.hosts)
    if group == NO_SEGMENT:
        return set(services or ()) - segmented
    return members


def judge(host, view, *, in_maintenance, failing, group_size, run_index,
          reported_at, now, storm, powers_off, dead_for_certain):
    """The guards' verdict for one confirmed failure.

    ``failing``: hosts of its group with an open incident (itself
    included); ``run_index``: its place in the run of reports of its group
    (0 = first); ``reported_at``: when its incident opened.
    """
    if view.maintenance or in_maintenance:
        return Verdict(False, '%s is in maintenance: HA is silenced for it'
                       % host)
    if view.segment_conflict:
        return Verdict(False, '%s is in more than one segment; fix its '
                       'aggregates (%s)' % (host, '; '.join(view.problems)),
                       alert=True)
    segment = view.segment
    if segment is not None and not segment.enabled:
        return Verdict(False, 'segment %s has ha:enabled=false'
                       % segment.name)
    group = group_of(view)
    at_once = powers_off and run_index < storm.burst
    settle_end = reported_at + storm.settle_time
    if storm.settle_time and not at_once and now < settle_end \
            and not dead_for_certain:
        return Verdict(False, 'waiting %.1f s for other failures of %s '
                       'before judging the storm' % (
                           settle_end - now, group), until=settle_end)
    count = len(failing)
    share = count / group_size if group_size else 1.0
    if count >= 2 and share >= storm.max_share and not dead_for_certain:
        return Verdict(False, 'storm guard: %d of %d hosts of %s are '
                       'failing at once (%.0f%% >= %.0f%%): suspecting a '
                       'partition, not evacuating' % (
                           count, group_size, group, share * 100,
                           storm.max_share * 100), alert=True)
    if segment is None:
        return Verdict(True, '%s is in no segment: its HA VMs go wherever '
                       'the scheduler allows' % host)
    return Verdict(True, 'recovering %s in segment %s (%s)' % (
        host, segment.name, segment.recovery_method.value))


def run_index(incidents, key, settle_time):
    """Place of incident ``key`` in its run: ``incidents`` are (opened_at,
    key) of one group; a run is a chain of openings each less than
    ``settle_time`` after the one before."""
    ordered = sorted(incidents)
    index = 0
    previous = None
    for opened, k in ordered:
        if previous is not None and opened - previous >= settle_time:
            index = 0
        elif previous is not None:
            index += 1
        if k == key:
            return index
        previous = opened
    return 0


def control_plane_outage(services, stale_after, storm):
    """Many nova-computes silent in Nova at once: the conductor, the bus
    or Nova's database is down, not that many processes (a sign of life
    is missing everywhere, so it proves nothing anywhere).  A reason, or
    None.  Hosts forced down are left out (their silence is known)."""
    counted = [s for s in (services or {}).values() if not s.forced_down]
    stale = sorted(s.host for s in counted
                   if s.heartbeat_age is not None and
                   s.heartbeat_age > stale_after)
    if len(stale) >= 2 and len(stale) >= storm.max_share * len(counted):
        return '%d of %d nova-computes have not reported to Nova for %.0f s' \
            ' (%s): a control-plane outage' % (
                len(stale), len(counted), stale_after,
                ', '.join(stale[:8]) + (', ...' if len(stale) > 8 else ''))
    return None
