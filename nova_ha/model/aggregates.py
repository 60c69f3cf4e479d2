"""What a host's aggregate metadata says about it, as plain data.

This module is the one place that reads the ``ha:*`` aggregate keys of the
public contract (see README, "Contracts").  It is pure: aggregates in, a
``HostHAView`` out.  The scheduler filters, the engine and the CLI all call it,
so a host means the same thing to every part of nova-ha.

Malformed metadata never raises.  Each problem becomes a human-readable string
in ``HostHAView.problems`` (the caller logs it) and the field falls back to the
value that keeps HA working and reserved capacity protected:

======================== ==================================================
problem                  fallback and why it is safe
======================== ==================================================
host in two segments     ``segment_conflict``: the storage boundary is
                         unknown, so no failover may land on or leave the
                         host (a VM rebuilt where its disks are not visible
                         would be rebuilt from its image, losing data)
empty segment name       treated like a conflict, for the same reason
unknown recovery method  ``DEFAULT_RECOVERY_METHOD`` (rh_priority): the
                         failover stays inside the segment and may use the
                         capacity reserved for exactly this
bad ``ha:reserved``      reserved: ordinary boots stay off the host; a
                         failover may still use it
bad ``ha:enabled``       enabled: a typo must not silently switch HA off
bad ``ha:evacuate_all``  false: only VMs tagged HA are evacuated
bad ``ha:maintenance``   not in maintenance: HA stays on
bad ``ha:fencing``       ``bmc,operator``: no rung that rests on timings
======================== ==================================================
"""

import dataclasses
import enum
from typing import Iterable, Mapping, Optional, Protocol

SEGMENT_KEY = 'ha:segment'
RECOVERY_METHOD_KEY = 'ha:recovery_method'
ENABLED_KEY = 'ha:enabled'
EVACUATE_ALL_KEY = 'ha:evacuate_all'
RESERVED_KEY = 'ha:reserved'
MAINTENANCE_KEY = 'ha:maintenance'
FENCING_KEY = 'ha:fencing'
# The fencing ladder: each rung is tried when the one before cannot prove
# the host off (see nova_ha.servicegroup.self_fence for the watchdog).
FENCING_RUNGS = ('bmc', 'watchdog', 'operator')
DEFAULT_FENCING = FENCING_RUNGS
# What a malformed ladder falls back to: the rungs with no timing in them.
SAFE_FENCING = ('bmc', 'operator')
# A compute service disabled with a reason starting with this is in
# maintenance too (the per-host mark of `nova-ha maintenance enter`).
MAINTENANCE_REASON_PREFIX = 'nova-ha:maintenance'


def service_in_maintenance(service):
    """True for a compute service (dict with status, disabled_reason)
    disabled for maintenance by nova-ha."""
    return bool(service and service.get('status') == 'disabled' and
                (service.get('disabled_reason') or '').startswith(
                    MAINTENANCE_REASON_PREFIX))

_TRUE_WORDS = frozenset(('true', 'yes', 'on', '1'))
_FALSE_WORDS = frozenset(('false', 'no', 'off', '0'))


class RecoveryMethod(str, enum.Enum):
    """Where a failed host's VMs may go (Masakari's meanings).

    ``auto``: any ordinary host of the segment, never its reserved hosts.
    ``reserved_host``: only the segment's reserved hosts.
    ``auto_priority``: ordinary hosts first, reserved hosts when those are full.
    ``rh_priority``: reserved hosts first, ordinary hosts when those are full.
    """

    AUTO = 'auto'
    RESERVED_HOST = 'reserved_host'
    AUTO_PRIORITY = 'auto_priority'
    RH_PRIORITY = 'rh_priority'

    @property
    def uses_reserved_hosts(self):
        return self is not RecoveryMethod.AUTO

    @property
    def uses_ordinary_hosts(self):
        return self is not RecoveryMethod.RESERVED_HOST

    @property
    def prefers_reserved_hosts(self):
        return self in (RecoveryMethod.RESERVED_HOST,
                        RecoveryMethod.RH_PRIORITY)


RECOVERY_METHODS = tuple(m.value for m in RecoveryMethod)
DEFAULT_RECOVERY_METHOD = RecoveryMethod.RH_PRIORITY


class AggregateLike(Protocol):
    """What we read from an aggregate: Nova's objects.Aggregate fits."""

    name: str
    metadata: Mapping[str, str]


@dataclasses.dataclass(frozen=True)
class Segment:
    """A failover segment: hosts that share a storage boundary."""

    name: str
    recovery_method: RecoveryMethod = DEFAULT_RECOVERY_METHOD
    enabled: bool = True
    evacuate_all: bool = False
    fencing: tuple = DEFAULT_FENCING


@dataclasses.dataclass(frozen=True)
class HostHAView:
    """The HA facts of one host, derived from its aggregates."""

    segment: Optional[Segment] = None
    # True when the host is marked to be in two segments, or in a segment
    # with an empty name: its storage boundary is unknown.
    segment_conflict: bool = False
    reserved: bool = False
    maintenance: bool = False
    problems: tuple = ()

    @property
    def segment_name(self):
        return self.segment.name if self.segment else None


NO_HA = HostHAView()


def parse_bool(value, key, fallback, problems):
    """Read a boolean metadata value; record a problem if it is not one."""
    word = str(value).strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    problems.append('%s=%r is not a boolean (use true or false); '
                    'treated as %s' % (key, value, str(fallback).lower()))
    return fallback


def parse_recovery_method(value, problems):
    try:
        return RecoveryMethod(str(value).strip().lower())
    except ValueError:
        problems.append('%s=%r is not one of %s; treated as %s' % (
            RECOVERY_METHOD_KEY, value, ', '.join(RECOVERY_METHODS),
            DEFAULT_RECOVERY_METHOD.value))
        return DEFAULT_RECOVERY_METHOD


def parse_fencing(value, problems):
    """A ladder such as ``bmc,watchdog,operator``: known rungs, each once,
    in the order written."""
    rungs = [r.strip().lower() for r in str(value).split(',') if r.strip()]
    if not rungs or len(set(rungs)) != len(rungs) or \
            set(rungs) - set(FENCING_RUNGS):
        problems.append('%s=%r is not a list of distinct rungs from %s; '
                        'treated as %s' % (
                            FENCING_KEY, value, ', '.join(FENCING_RUNGS),
                            ','.join(SAFE_FENCING)))
        return SAFE_FENCING
    return tuple(rungs)


def _single_value(aggregates, key, problems):
    """The one value that the host's aggregates give ``key``, or None.

    Two aggregates giving different values is a problem; the caller then
    uses its fallback as if the value were malformed.
    """
    values = {}
    for agg in aggregates:
        if key in agg.metadata:
            values.setdefault(agg.metadata[key], []).append(agg.name)
    if len(values) > 1:
        problems.append('aggregates disagree on %s: %s' % (key, '; '.join(
            '%r in %s' % (v, ', '.join(sorted(names)))
            for v, names in sorted(values.items()))))
        return _CONFLICT
    if values:
        return next(iter(values))
    return None


_CONFLICT = object()


def _segment_policy(segment_aggs, name, problems):
    def value(key, parse, default, fallback):
        """The segment's value of ``key``: ``default`` when unset,
        ``fallback`` when its aggregates disagree or it does not parse."""
        found = _single_value(segment_aggs, key, problems)
        if found is None:
            return default
        if found is _CONFLICT:
            return fallback
        return parse(found)

    def flag(key, default, fallback):
        return value(key, lambda v: parse_bool(v, key, fallback, problems),
                     default, fallback)

    return Segment(
        name=name,
        recovery_method=value(
            RECOVERY_METHOD_KEY,
            lambda v: parse_recovery_method(v, problems),
            DEFAULT_RECOVERY_METHOD, DEFAULT_RECOVERY_METHOD),
        enabled=flag(ENABLED_KEY, True, True),
        evacuate_all=flag(EVACUATE_ALL_KEY, False, False),
        fencing=value(FENCING_KEY, lambda v: parse_fencing(v, problems),
                      DEFAULT_FENCING, SAFE_FENCING))


def host_view(aggregates: Iterable[AggregateLike]) -> HostHAView:
    """Derive a host's HA facts from the aggregates it belongs to."""
    aggregates = [a for a in aggregates if a.metadata]
    if not aggregates:
        return NO_HA
    problems = []
    segment_aggs = [a for a in aggregates if SEGMENT_KEY in a.metadata]
    names = {a.metadata[SEGMENT_KEY].strip() for a in segment_aggs}

    segment = None
    conflict = False
    if len(names) > 1:
        conflict = True
        problems.append('host is in %d segments (%s) through aggregates %s; '
                        'a host belongs to at most one segment, so no '
                        'failover will use or leave it' % (
                            len(names), ', '.join(sorted(names)),
                            ', '.join(sorted(a.name for a in segment_aggs))))
    elif names == {''}:
        conflict = True
        problems.append('%s is empty in aggregate %s; no failover will use '
                        'or leave the host' % (
                            SEGMENT_KEY, segment_aggs[0].name))
    elif names:
        segment = _segment_policy(segment_aggs, names.pop(), problems)

    reserved = False
    maintenance = False
    for agg in aggregates:
        if RESERVED_KEY in agg.metadata:
            reserved |= parse_bool(agg.metadata[RESERVED_KEY], RESERVED_KEY,
                                   True, problems)
        if MAINTENANCE_KEY in agg.metadata:
            maintenance |= parse_bool(agg.metadata[MAINTENANCE_KEY],
                                      MAINTENANCE_KEY, False, problems)

    # "Reserved" is only meaningful inside a segment, and a host under
    # maintenance is never counted as failover capacity.
    in_segment = segment is not None or conflict
    if reserved and not in_segment:
        problems.append('%s is set but the host is in no segment (%s); '
                        'it is not treated as reserved' % (
                            RESERVED_KEY, SEGMENT_KEY))
    return HostHAView(segment=segment, segment_conflict=conflict,
                      reserved=reserved and in_segment and not maintenance,
                      maintenance=maintenance, problems=tuple(problems))


def host_view_of(aggregates, host: str) -> HostHAView:
    """``host``'s HA facts, from every aggregate of the cloud (each with
    ``hosts`` besides name and metadata, as the Nova gateway lists them):
    only those ``host`` belongs to count."""
    return host_view([a for a in aggregates if host in a.hosts])
