"""VM downtime from the history, and availability over a period: pure.

An outage is one VM down from the failure to the moment it is ACTIVE again:

* host failure (an incident of kind ``host_failure``): from the failure
  report's time (the incident's ``at``; when the host died is unknown,
  its report is the earliest evidence) to the VM's ``evacuate`` record
  with outcome ``done`` (written once the VM is back as it was, i.e.
  ACTIVE).  Only VMs that were ACTIVE before the failure count (the plan
  step records each VM's status): a stopped VM lost no service;
* VM failure (an ``event.received`` of type ``vm.failure``): from the
  event's time to the engine's ``restart`` record with outcome
  ``restarted`` for that VM.  An ``escalated`` alert means the engine gave
  up: the VM is not back.  Other outcomes (not HA, user stopped, host in
  maintenance, moved away) are not outages the engine owned, and are
  left out.

A VM that never came back (evacuation failed, restart escalated, no
outcome recorded) counts as down until the end of the period.  Overlapping
outages of one VM count once.
"""

import dataclasses
import datetime
from typing import Optional

from nova_ha.notifier import decisions
from nova_ha.notifier import events
from nova_ha.notifier import recovery

RECOVERED = 'recovered'
NOT_RECOVERED = 'not recovered'
IN_PROGRESS = 'in progress'
ESCALATED = 'escalated'

# Outcomes of the VM-failure flow (nova_ha.notifier.vm_flow).
RESTARTED = 'restarted'


@dataclasses.dataclass(frozen=True)
class Outage:
    """One VM down from ``start`` until ``end`` (None: not back)."""

    vm_id: str
    vm_name: str
    host: str
    segment: Optional[str]
    cause: str
    incident: str
    start: datetime.datetime
    end: Optional[datetime.datetime]
    outcome: str

    def interval(self, since, until):
        """The part of the outage inside [since, until), or None."""
        start = max(self.start, since)
        end = min(self.end or until, until)
        return (start, end) if end > start else None


def parse_time(text, fallback):
    """An aware UTC datetime from recorded ISO text, else ``fallback``."""
    if not text:
        return fallback
    try:
        value = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return fallback
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def failure_time(incident):
    """When the failure was reported (the engine's event time).

    The engine opens the incident with the time in its detail, replaces
    that detail with the result when done, and keys host failures
    ``host_failure:<host>:<event time>``: the key still has it then.
    """
    recorded = (incident.detail or {}).get('at')
    prefix = '%s:%s:' % (incident.kind, incident.host)
    if not recorded and incident.key.startswith(prefix):
        recorded = incident.key[len(prefix):]
    return parse_time(recorded, incident.opened_at)


def host_failure_outages(incident, steps, evacuations, segment=None):
    """Outages of one host-failure incident.

    ``steps``: the incident's steps by name; ``evacuations``: its
    ``evacuate`` records.  Without a completed plan step the VMs are
    unknown (fencing failed, say): no VM outage can be told.
    """
    plan = steps.get('plan')
    if plan is None or plan.status != recovery.DONE:
        return []
    start = failure_time(incident)
    done, failed = {}, set()
    for record in evacuations:
        if record.outcome == recovery.DONE:
            done.setdefault(record.instance, record.at)
        elif record.outcome == recovery.FAILED:
            failed.add(record.instance)
    outages = []
    for vm in (plan.detail or {}).get('vms', []):
        if vm.get('status') != decisions.ACTIVE:
            continue
        end = done.get(vm['id'])
        if end is not None:
            outcome = RECOVERED
        elif vm['id'] in failed or not incident.is_open:
            outcome = NOT_RECOVERED
        else:
            outcome = IN_PROGRESS
        outages.append(Outage(
            vm_id=vm['id'], vm_name=vm.get('name') or '',
            host=incident.host, segment=segment, cause=incident.kind,
            incident=incident.key, start=start, end=end, outcome=outcome))
    return outages


def vm_failure_outages(received, outcomes, segments=None):
    """Outages of crashed VMs restarted in place.

    ``received``: ``event.received`` records (others are skipped);
    ``outcomes``: ``restart`` records and ``alert`` records of the
    VM-failure flow, any order.  Each failure pairs with the first outcome
    for its VM recorded after it; ``segments``: host -> segment name.
    """
    segments = segments or {}
    pending = {}
    for record in sorted(outcomes, key=lambda r: (r.at, r.id)):
        if record.instance and record.outcome:
            pending.setdefault(record.instance, []).append(record)
    outages = []
    for record in sorted(received, key=lambda r: (r.at, r.id)):
        detail = record.detail or {}
        if detail.get('type') != events.VM_FAILURE or not record.instance:
            continue
        queue = pending.get(record.instance, [])
        while queue and queue[0].at < record.at:
            queue.pop(0)
        answer = queue.pop(0) if queue else None
        if answer is None:
            end, outcome = None, IN_PROGRESS
        elif answer.outcome == RESTARTED:
            end, outcome = answer.at, RECOVERED
        elif answer.outcome == ESCALATED:
            end, outcome = None, ESCALATED
        else:
            continue
        start = parse_time(detail.get('at'), record.at)
        outages.append(Outage(
            vm_id=record.instance, vm_name='', host=record.host,
            segment=segments.get(record.host),
            cause='%s:%s' % (events.VM_FAILURE, detail.get('cause') or '?'),
            incident='%s@%s' % (events.VM_FAILURE, start.isoformat()),
            start=start, end=end, outcome=outcome))
    return outages


def _merged_seconds(intervals):
    """Seconds covered by the union of (start, end) intervals."""
    total = 0.0
    current = None
    for start, end in sorted(intervals):
        if current and start <= current[1]:
            current = (current[0], max(current[1], end))
            continue
        if current:
            total += (current[1] - current[0]).total_seconds()
        current = (start, end)
    if current:
        total += (current[1] - current[0]).total_seconds()
    return total


@dataclasses.dataclass(frozen=True)
class VMAvailability:
    vm_id: str
    vm_name: str
    segment: Optional[str]
    outages: tuple
    downtime_s: float
    period_s: float

    @property
    def availability(self):
        return 1.0 - self.downtime_s / self.period_s

    @property
    def unresolved(self):
        return sum(1 for o in self.outages if o.end is None)


def per_vm(outages, since, until):
    """VMs with an outage inside [since, until), worst first."""
    if until <= since:
        raise ValueError('the period is empty: --until must be after '
                         '--since')
    period = (until - since).total_seconds()
    by_vm = {}
    for outage in outages:
        if outage.interval(since, until) is not None:
            by_vm.setdefault(outage.vm_id, []).append(outage)
    rows = []
    for vm_id, vm_outages in by_vm.items():
        vm_outages.sort(key=lambda o: o.start)
        rows.append(VMAvailability(
            vm_id=vm_id,
            vm_name=next((o.vm_name for o in vm_outages if o.vm_name), ''),
            segment=next((o.segment for o in reversed(vm_outages)
                          if o.segment), None),
            outages=tuple(vm_outages),
            downtime_s=_merged_seconds(
                [o.interval(since, until) for o in vm_outages]),
            period_s=period))
    rows.sort(key=lambda r: (-r.downtime_s, r.vm_name, r.vm_id))
    return rows


@dataclasses.dataclass(frozen=True)
class SegmentAvailability:
    segment: Optional[str]
    vms: int                # VMs the availability is averaged over
    affected: int           # of which had an outage in the period
    incidents: int
    downtime_s: float       # VM-seconds
    period_s: float
    recoveries_s: tuple     # durations of the outages that ended

    @property
    def availability(self):
        if not self.vms:
            return 1.0
        return 1.0 - self.downtime_s / (self.vms * self.period_s)

    @property
    def mean_recovery_s(self):
        if not self.recoveries_s:
            return None
        return sum(self.recoveries_s) / len(self.recoveries_s)


def per_segment(vm_rows, since, until, population=None):
    """Sum ``per_vm`` rows (of the same period) by segment.

    ``population``: segment -> ids of its HA VMs (from Nova); the segment's
    availability is averaged over those and the affected VMs.  Without it,
    over the affected VMs only (a pessimistic figure).
    """
    population = population or {}
    grouped = {}
    for row in vm_rows:
        grouped.setdefault(row.segment, []).append(row)
    for segment in population:
        grouped.setdefault(segment, [])
    period = (until - since).total_seconds()
    result = []
    for segment, rows in grouped.items():
        members = set(population.get(segment, ())) | {r.vm_id for r in rows}
        outages = [o for r in rows for o in r.outages]
        result.append(SegmentAvailability(
            segment=segment, vms=len(members), affected=len(rows),
            incidents=len({o.incident for o in outages}),
            downtime_s=sum(r.downtime_s for r in rows),
            period_s=period,
            recoveries_s=tuple((o.end - o.start).total_seconds()
                               for o in outages if o.end is not None)))
    result.sort(key=lambda s: (s.segment is None, s.segment or ''))
    return result
