"""The placement rules of nova-ha as pure functions.

Each rule takes the request's facts and one candidate host's HA view and
returns a Verdict; the filters are thin adapters around them.  Keeping the
rules here means that unit tests read like the rule book, and that the filter
classes stay the size of Nova's own.
"""

import dataclasses

from nova_ha.scheduler.request import RequestKind


@dataclasses.dataclass(frozen=True)
class Verdict:
    passes: bool
    reason: str = ''


PASS = Verdict(True)


def reserved_capacity(facts_of_request, host):
    """May this request use ``host`` if it is a reserved failover host?

    ``facts_of_request`` is a callable: the facts are only read when the
    host is reserved, so clouds and hosts without reservations cost nothing.
    """
    if not host.reserved:
        return PASS
    facts = facts_of_request()
    if not facts.is_failover:
        return Verdict(False, 'reserved for failovers; this request is a %s'
                       % facts.kind.value)
    source = facts.source_view
    if host.segment_conflict or source.segment_conflict:
        return Verdict(False, 'segment of the source or of this host is '
                       'ambiguous')
    if source.segment is None or source.segment.name != host.segment_name:
        return Verdict(False, 'reserved for segment %s, the failed host %s '
                       'is in %s' % (host.segment_name, facts.source_host,
                                     source.segment_name or 'no segment'))
    if not source.segment.recovery_method.uses_reserved_hosts:
        return Verdict(False, "segment %s recovers with '%s', which never "
                       "uses reserved hosts" % (
                           host.segment_name,
                           source.segment.recovery_method.value))
    return PASS


def segment_boundary(facts, host, confine_all_moves=True,
                     unsegmented_failover='unsegmented'):
    """Does moving the request's instance to ``host`` keep it inside the
    storage boundary (failover segment) of its source host?  A failover
    from a host in no segment goes to hosts in no segment, unless
    ``unsegmented_failover`` is 'any': a segment's hosts, and their
    reserved capacity, are for the segment's own failures."""
    if facts.kind is RequestKind.PLACEMENT:
        return PASS
    in_any_segment = host.segment is not None or host.segment_conflict
    if facts.kind is RequestKind.UNKNOWN:
        if in_any_segment:
            return Verdict(False, 'the request could not be classified; '
                           'segment hosts are refused')
        return PASS
    source = facts.source_view
    if facts.kind is RequestKind.MOVE and not confine_all_moves:
        return PASS
    if source.segment_conflict:
        return Verdict(False, 'source host %s is in more than one segment; '
                       'its storage boundary is unknown' % facts.source_host)
    if source.segment is None:
        if facts.is_failover and in_any_segment and \
                unsegmented_failover != 'any':
            return Verdict(False, 'source host %s is in no segment: its '
                           'failovers stay on hosts in no segment'
                           % facts.source_host)
        return PASS
    if host.segment_conflict or host.segment_name != source.segment.name:
        return Verdict(False, 'outside segment %s of source host %s' % (
            source.segment.name, facts.source_host))
    method = source.segment.recovery_method
    if (facts.is_failover and not method.uses_ordinary_hosts
            and not host.reserved):
        return Verdict(False, "segment %s recovers with '%s', only onto its "
                       "reserved hosts" % (source.segment.name, method.value))
    return PASS


def failover_preference(facts, host):
    """1.0 for the hosts a failover should try first, else 0.0.

    ``rh_priority`` and ``reserved_host`` prefer reserved hosts;
    ``auto_priority`` (and ``auto``) prefer ordinary ones, so the reserved
    hosts only take what the others cannot.
    """
    if not facts.is_failover or facts.source_segment is None:
        return 0.0
    method = facts.source_segment.recovery_method
    return 1.0 if host.reserved == method.prefers_reserved_hosts else 0.0


