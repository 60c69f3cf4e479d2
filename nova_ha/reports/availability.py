"""VM downtime from the history, and availability over a period: pure.

An outage is one VM down from the failure to the moment it is ACTIVE again:

* host failure (an incident of kind ``host_failure``): from the failure
  time (see :func:`failure_time`) to the VM's ``evacuate`` record with
  outcome ``done`` (written once the VM is back as it was, i.e. ACTIVE).
  Only VMs that were ACTIVE before the failure count: a stopped VM lost
  no service.  The VMs and their status before the failure come from the
  incident's plan: the engine's ``plan`` fact (the incident's detail,
  nova_ha.engine), or for incidents of the earlier recovery flow
  (removed) its ``plan`` step.  A VM with an ``evacuate`` record
  ``failed``, or whose incident closed without its ``done``, is not
  recovered; one deleted while it was down (``gone``) is down until it
  was found deleted;
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

from nova_ha.engine import decisions
from nova_ha.engine import states
from nova_ha.notifier import events

RECOVERED = 'recovered'
NOT_RECOVERED = 'not recovered'
IN_PROGRESS = 'in progress'
ESCALATED = 'escalated'
# A VM deleted while it was down: it needs no recovery any more.
DELETED = 'deleted'

# Outcomes of the engine's ``evacuate`` records (nova_ha.engine.core).
MOVED = 'done'
MOVE_FAILED = 'failed'
GONE = 'gone'

# Status of a completed step of the earlier recovery flow's incidents.
STEP_DONE = 'done'

# Outcomes of the engine's VM-failure incidents (nova_ha.engine.vm_failure)
# that end a VM's outage: back on its host, or moved.
RESTARTED = 'restarted'
MIGRATED = 'migrated'
# ...and those of failures nova-ha does not own (not HA, stopped by its
# owner, in maintenance, moved or gone), earlier engines' words included.
NOT_OWNED = ('skipped', 'not_ha', 'ignored', 'maintenance')


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
    """When the host failed, as far as the history can tell.

    The engine (nova_ha.engine) opens the incident when it sees the host
    dead, and numbers its keys (``host_failure:<host>:<n>``): its
    ``opened_at`` is the failure time.  The earlier recovery flow opened
    it after its guard, with the failure report's time in its detail
    (``at``), replaced by the result when done, and in its key
    (``host_failure:<host>:<report time>``): those are read first.
    """
    recorded = (incident.detail or {}).get('at')
    prefix = '%s:%s:' % (incident.kind, incident.host)
    if not recorded and incident.key.startswith(prefix):
        suffix = incident.key[len(prefix):]
        if not suffix.isdigit():
            recorded = suffix
    return parse_time(recorded, incident.opened_at)


def engine_plan(incident):
    """The engine's plan of a host-failure incident: a list of ``{'id',
    'name', 'priority', 'status'}``, or None (not planned yet, or an
    incident of the earlier flow, whose plan is a step)."""
    plan = (incident.detail or {}).get('plan')
    return plan if isinstance(plan, list) else None


def closed_time(incident):
    """When the incident closed, or None while it is open.

    The engine's final states (recovered, partial, cancelled, closed)
    close it even where the history has no ``closed_at`` for them: its
    last save is then the close.
    """
    if incident.closed_at is not None:
        return incident.closed_at
    if incident.state in states.FINAL:
        return incident.updated_at
    return None


def host_failure_outages(incident, steps, evacuations, segment=None):
    """Outages of one host-failure incident.

    ``steps``: the incident's steps by name (incidents of the earlier
    flow; the engine writes none); ``evacuations``: its ``evacuate``
    records.  Without a plan (the earlier flow's completed ``plan`` step,
    or the engine's ``plan`` fact) the VMs are unknown (fencing failed,
    say): no VM outage can be told.
    """
    plan = steps.get('plan')
    if plan is not None:
        if plan.status != STEP_DONE:
            return []
        vms = (plan.detail or {}).get('vms', [])
    else:
        vms = engine_plan(incident)
        if vms is None:
            return []
    start = failure_time(incident)
    done, failed, gone = {}, set(), {}
    for record in sorted(evacuations, key=lambda r: (r.at, r.id)):
        if record.outcome == MOVED:
            done.setdefault(record.instance, record.at)
        elif record.outcome == MOVE_FAILED:
            failed.add(record.instance)
        elif record.outcome == GONE:
            gone.setdefault(record.instance, record.at)
    closed = closed_time(incident) is not None
    outages = []
    for vm in vms:
        if vm.get('status') != decisions.ACTIVE:
            continue
        end = done.get(vm['id'])
        if end is not None:
            outcome = RECOVERED
        elif vm['id'] in gone:
            end, outcome = gone[vm['id']], DELETED
        elif vm['id'] in failed or closed:
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
    VM-failure incidents, any order.  Each failure pairs with the first
    outcome that ends it (restarted, migrated, escalated, or not nova-ha's
    to recover) recorded for its VM after it; ``segments``: host ->
    segment name.
    """
    segments = segments or {}
    pending = {}
    for record in sorted(outcomes, key=lambda r: (r.at, r.id)):
        if record.instance and record.outcome in (RESTARTED, MIGRATED,
                                                  ESCALATED) + NOT_OWNED:
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
        elif answer.outcome in (RESTARTED, MIGRATED):
            end, outcome = answer.at, RECOVERED
        elif answer.outcome == ESCALATED:
            end, outcome = None, ESCALATED
        else:
            continue            # not nova-ha's to recover
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
    recoveries_s: tuple     # durations of the outages that ended with
                            # the VM back (not deleted)

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
                               for o in outages if o.end is not None and
                               o.outcome != DELETED)))
    result.sort(key=lambda s: (s.segment is None, s.segment or ''))
    return result
