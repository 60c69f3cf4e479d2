"""Failover segments as an operator sees them, derived from aggregates.

Pure: aggregates in (anything with ``name``, ``hosts`` and ``metadata``,
such as nova_ha.notifier.nova.Aggregate), summaries out.  Every judgement
(which segment, reserved or not, in maintenance or not, the policy and its
problems) comes from nova_ha.model.aggregates.host_view, so the CLI shows
exactly what the scheduler filters and the engine act on.
"""

import dataclasses

from nova_ha.model import aggregates as ha_aggregates


class UnknownSegment(LookupError):
    """No aggregate declares the segment; the message lists those that do."""


@dataclasses.dataclass(frozen=True)
class SegmentSummary:
    name: str
    aggregates: tuple          # names of the aggregates declaring it
    aggregate_ids: tuple
    hosts: tuple
    reserved_hosts: tuple
    maintenance_hosts: tuple
    policy: ha_aggregates.Segment
    problems: tuple


def segment_aggregates(aggregates, name):
    """The aggregates whose ``ha:segment`` is ``name``."""
    return [a for a in aggregates
            if (a.metadata.get(ha_aggregates.SEGMENT_KEY) or '').strip()
            == name]


def segment_names(aggregates):
    return sorted({a.metadata[ha_aggregates.SEGMENT_KEY].strip()
                   for a in aggregates
                   if ha_aggregates.SEGMENT_KEY in a.metadata} - {''})


def summarize(aggregates):
    """One SegmentSummary per segment, by name."""
    aggregates = list(aggregates)
    summaries = []
    for name in segment_names(aggregates):
        declaring = segment_aggregates(aggregates, name)
        # The segment's policy as one view over all its aggregates: the
        # model reports aggregates that disagree on a key.
        policy_view = ha_aggregates.host_view(declaring)
        hosts = sorted({h for a in declaring for h in a.hosts})
        reserved, maintenance, problems = [], [], list(policy_view.problems)
        for host in hosts:
            view = ha_aggregates.host_view_of(aggregates, host)
            if view.reserved:
                reserved.append(host)
            if view.maintenance:
                maintenance.append(host)
            if view.segment_conflict:
                problems.append('%s: %s' % (host, '; '.join(view.problems)))
        summaries.append(SegmentSummary(
            name=name, aggregates=tuple(sorted(a.name for a in declaring)),
            aggregate_ids=tuple(a.id for a in declaring),
            hosts=tuple(hosts), reserved_hosts=tuple(reserved),
            maintenance_hosts=tuple(maintenance),
            policy=policy_view.segment,
            problems=tuple(dict.fromkeys(problems))))
    return summaries


def find(summaries, name):
    """The summary of segment ``name``; UnknownSegment lists the others."""
    for summary in summaries:
        if summary.name == name:
            return summary
    known = ', '.join(s.name for s in summaries) or 'none'
    raise UnknownSegment(
        'no failover segment named %r (an aggregate with %s=%s); '
        'segments: %s' % (name, ha_aggregates.SEGMENT_KEY, name, known))


def segment_metadata(recovery_method=None, enabled=None, evacuate_all=None):
    """The aggregate metadata that sets a segment's policy; None leaves a
    key as it is.  ``recovery_method`` must be one of
    model.aggregates.RECOVERY_METHODS (the CLI offers only those)."""
    metadata = {}
    if recovery_method is not None:
        metadata[ha_aggregates.RECOVERY_METHOD_KEY] = \
            ha_aggregates.RecoveryMethod(recovery_method).value
    if enabled is not None:
        metadata[ha_aggregates.ENABLED_KEY] = _word(enabled)
    if evacuate_all is not None:
        metadata[ha_aggregates.EVACUATE_ALL_KEY] = _word(evacuate_all)
    return metadata


def _word(flag):
    return 'true' if flag else 'false'
