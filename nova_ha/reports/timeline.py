"""The recovery timeline of one incident, as timed rows: pure.

Rows, in the order things began.  For an incident of the engine
(nova_ha.engine: no steps; its records and facts tell the story):

* ``detection``: from the failure (the incident's opening) to the
  engine's decision: its first move out of detected, confirming and held
  (to fencing, fenced, parked or cancelled);
* one row per state the incident went through (``detected``,
  ``confirming``, ``held``, ``fencing``, ``fenced``, ``evacuating``,
  ``parked``), from its ``transition`` record to the next one, with the
  reason it was entered; the state it is in still has no end while the
  incident is open;
* ``fence``: each fence attempt, from its start (the record's time less
  the driver's ``elapsed_s``) to its result;
* ``force_down``: from fenced to Nova's acceptance of the force-down (or
  to evacuating, which needs it, when that came first);
* ``evacuate:<vm>``: from the first request Nova accepted (or the start
  of evacuating, for a VM never requested) to the VM's outcome (``done``,
  ``failed``, ``gone``); none yet: still running;
* ``disable``: from the last VM outcome to Nova's acceptance of disabling
  the host;
* ``total``: from the failure to the incident's close, with its final
  state and why.

For an incident of the earlier recovery flow (removed; its incidents
recorded steps):

* ``detection``: from the failure report to the incident's opening (the
  guard: storm settle time, confirmation, locks);
* one row per recorded step (``fence``, ``force_down``, ``disable``,
  ``plan``, ``evacuate:<vm>``, ``reserved``...), from its start to its last
  mark; a step still ``started`` has no end yet;
* ``total``: from the failure report to the incident's close.

Offsets (``at_s``) count from the failure, so the rows of several
incidents compare.
"""

import dataclasses
import datetime
from typing import Optional

from nova_ha.engine import states
from nova_ha.reports import availability

DETECTION = 'detection'
TOTAL = 'total'
EVACUATE_PREFIX = 'evacuate:'
FENCE = 'fence'
FORCE_DOWN = 'force_down'
DISABLE = 'disable'

# Row statuses beyond the recorded ones.
DONE = 'done'
FAILED = 'failed'
STARTED = 'started'
UNFINISHED = 'unfinished'

# Records the engine writes for an incident (nova_ha.engine.core).
TRANSITION = 'transition'
OPERATOR_CLOSE = 'operator.close'
FENCED_OUTCOMES = ('fenced', 'already_off', 'not_fenced')
VM_OUTCOMES = ('done', 'failed', 'gone')
# The states in which the engine is still making up its mind.
DECIDING = frozenset((states.DETECTED, states.CONFIRMING, states.HELD))


@dataclasses.dataclass(frozen=True)
class TimelineRow:
    step: str
    label: str              # for people and charts: "evacuate web-1"
    instance: Optional[str]
    status: str
    start: datetime.datetime
    end: Optional[datetime.datetime]
    at_s: float             # start, seconds after the failure report
    duration_s: Optional[float]
    detail: str


def _seconds(later, earlier):
    return round((later - earlier).total_seconds(), 3)


def summarise(step, detail):
    """A short text for a step's recorded detail."""
    detail = detail or {}
    if 'error' in detail:
        return 'error: %s' % detail['error']
    if step == 'fence':
        return ' '.join(str(detail[k]) for k in ('outcome', 'driver',
                                                 'detail') if detail.get(k))
    if step == 'plan':
        vms = detail.get('vms', [])
        return '%d VM(s): %s' % (len(vms), ', '.join(
            '%s(%s)' % (vm.get('name') or vm.get('id'), vm.get('priority'))
            for vm in vms))
    if step.startswith(EVACUATE_PREFIX):
        if 'target' in detail:
            return '-> %s, %s' % (detail['target'], detail.get('status', ''))
        return ''
    if step == TOTAL:
        # The report time is the row's start already.
        detail = {k: v for k, v in detail.items() if k != 'at'}
    if step == 'reserved':
        released = detail.get('released') or []
        return ('released: %s' % ', '.join(released)) if released else \
            'none released'
    return ', '.join('%s=%s' % kv for kv in sorted(detail.items()))


def vm_names(steps, incident=None):
    """VM id -> name, from the incident's plan step (the earlier flow) or
    its ``plan`` fact (the engine)."""
    plan = steps.get('plan')
    if plan is not None:
        vms = (plan.detail or {}).get('vms', [])
    else:
        vms = (availability.engine_plan(incident) if incident is not None
               else None) or []
    return {vm['id']: vm.get('name') or vm['id'] for vm in vms}


def incident_timeline(incident, steps, records=None):
    """TimelineRows of ``incident`` from its ``steps`` (name -> Step), or,
    for an incident of the engine (no steps, ``transition`` records), from
    its ``records`` (``store.query(incident=key)``)."""
    records = sorted(records or (), key=lambda r: (r.at, r.id))
    if not steps and any(r.kind == TRANSITION for r in records):
        return _engine_timeline(incident, records)
    return _step_timeline(incident, steps)


def _step_timeline(incident, steps):
    """The timeline of an incident of the earlier flow, from its steps."""
    origin = availability.failure_time(incident)
    names = vm_names(steps)
    rows = []
    if origin < incident.opened_at:
        rows.append(TimelineRow(
            step=DETECTION, label='failure reported -> recovery opened',
            instance=None, status='done', start=origin,
            end=incident.opened_at, at_s=0.0,
            duration_s=_seconds(incident.opened_at, origin),
            detail=str((incident.detail or {}).get('reported_by') or '')))
    for step in sorted(steps.values(), key=lambda s: (s.started_at, s.name)):
        instance = None
        label = step.name
        if step.name.startswith(EVACUATE_PREFIX):
            instance = step.name[len(EVACUATE_PREFIX):]
            label = 'evacuate %s' % names.get(instance, instance)
        finished = step.status != 'started'
        end = step.updated_at if finished else None
        rows.append(TimelineRow(
            step=step.name, label=label, instance=instance,
            status=step.status, start=step.started_at, end=end,
            at_s=_seconds(step.started_at, origin),
            duration_s=_seconds(end, step.started_at) if end else None,
            detail=summarise(step.name, step.detail)))
    rows.append(TimelineRow(
        step=TOTAL, label='failure reported -> recovery %s' % (
            'closed' if incident.closed_at else 'still open'),
        instance=None, status=incident.state, start=origin,
        end=incident.closed_at, at_s=0.0,
        duration_s=(_seconds(incident.closed_at, origin)
                    if incident.closed_at else None),
        detail=summarise(TOTAL, incident.detail)))
    return rows


# -- incidents of the engine -------------------------------------------------

def _transitions(incident, records):
    """(at, state entered, reason) in order, from the ``transition``
    records (the first: "KEY opened: why") and an operator's close."""
    found = []
    prefix = incident.key + ' '
    for record in records:
        if record.kind == OPERATOR_CLOSE:
            found.append((record.at, states.CLOSED, record.message))
            continue
        if record.kind != TRANSITION:
            continue
        message = record.message or ''
        if message.startswith(prefix):
            message = message[len(prefix):]
        _change, _sep, reason = message.partition(': ')
        found.append((record.at, record.outcome or states.DETECTED, reason))
    return found


def _at_or_before(moments, when):
    """The latest of ``moments`` not after ``when``, or None."""
    earlier = [m for m in moments if m <= when]
    return earlier[-1] if earlier else None


def _engine_timeline(incident, records):
    origin = availability.failure_time(incident)
    closed = availability.closed_time(incident)
    names = vm_names({}, incident)
    facts = incident.detail or {}
    changes = _transitions(incident, records)
    if not changes or changes[0][1] != states.DETECTED:
        # The opening record is missing: the incident opened detected.
        changes.insert(0, (incident.opened_at, states.DETECTED, ''))
    rows = []

    def add(step, label, status, start, end, detail, instance=None):
        rows.append(TimelineRow(
            step=step, label=label, instance=instance, status=status,
            start=start, end=end, at_s=_seconds(start, origin),
            duration_s=_seconds(end, start) if end is not None else None,
            detail=detail))

    # Detection: up to the first decision.
    decided = next((c for c in changes[1:] if c[1] not in DECIDING), None)
    if decided is not None:
        add(DETECTION, 'host seen dead -> %s' % decided[1], DONE, origin,
            decided[0], changes[0][2])
    else:
        add(DETECTION, 'host seen dead -> %s' % (
            'deciding' if closed is None else incident.state),
            STARTED if closed is None else DONE, origin, closed,
            changes[0][2])

    # Each state it went through.  The last one ends at the close (its
    # record may have been lost: the history stopped answering between
    # the save of the state and that of its records).
    entered = {}
    for index, (start, state, reason) in enumerate(changes):
        entered.setdefault(state, []).append(start)
        if state in states.FINAL:
            continue
        if index + 1 < len(changes):
            end = changes[index + 1][0]
        else:
            end = closed
        add(state, 'state %s' % state, DONE if end else STARTED, start,
            end, reason)

    # Fence attempts, force-down and disable.
    vm_ends = [r.at for r in records
               if r.kind == 'evacuate' and r.outcome in VM_OUTCOMES]
    for record in records:
        if record.kind == FENCE:
            detail = dict(record.detail or {})
            detail.setdefault('outcome', record.outcome)
            elapsed = detail.get('elapsed_s')
            if isinstance(elapsed, (int, float)):
                start = record.at - datetime.timedelta(seconds=elapsed)
            else:
                start = _at_or_before(entered.get(states.FENCING, ()),
                                      record.at)
            add(FENCE, FENCE,
                DONE if record.outcome in FENCED_OUTCOMES else FAILED,
                start or record.at, record.at, summarise(FENCE, detail))
        elif record.kind == 'service' and record.outcome == 'forced_down':
            # Asked on entering fenced.  The record is written when the
            # engine takes in Nova's answer, which may come after it saw
            # the service forced down and moved on: done by then.
            start = _at_or_before(entered.get(states.FENCED, ()), record.at)
            later = [c[0] for c in changes if start and c[0] > start]
            end = min([record.at] + later[:1])
            add(FORCE_DOWN, FORCE_DOWN, DONE, start or end, end, '')
        elif record.kind == 'service' and record.outcome == 'disabled':
            start = _at_or_before(vm_ends, record.at)
            add(DISABLE, DISABLE, DONE, start or record.at,
                record.at, '')

    # Each VM: from its first accepted request to its outcome.
    evacuating = entered.get(states.EVACUATING)
    began = evacuating[0] if evacuating else (
        _epoch(facts.get('started')) or incident.opened_at)
    moved = facts.get('moved') if isinstance(facts.get('moved'),
                                             dict) else {}
    by_vm = {}
    for record in records:
        if record.instance and record.kind in ('evacuate', 'power'):
            by_vm.setdefault(record.instance, []).append(record)
    for vm, vm_records in by_vm.items():
        requests = [r for r in vm_records if r.kind == 'evacuate' and
                    r.outcome == 'requested']
        result = next((r for r in vm_records if r.kind == 'evacuate' and
                       r.outcome in VM_OUTCOMES), None)
        if not requests and result is None:
            continue      # a task reset or a power restore alone
        start = requests[0].at if requests else min(began, result.at)
        if result is not None:
            status, end = result.outcome, result.at
        elif closed is not None:
            status, end = UNFINISHED, closed
        else:
            status, end = STARTED, None
        add(EVACUATE_PREFIX + vm, 'evacuate %s' % names.get(vm, vm), status,
            start, end, _vm_detail(moved.get(vm), status, len(requests),
                                   any(r.kind == 'power'
                                       for r in vm_records)),
            instance=vm)

    rows.sort(key=lambda r: (r.step != DETECTION, r.start))
    final = next((c for c in reversed(changes) if c[1] in states.FINAL),
                 None)
    rows.append(TimelineRow(
        step=TOTAL, label='failure -> recovery %s' % (
            'closed' if closed else 'still open'),
        instance=None, status=incident.state, start=origin, end=closed,
        at_s=0.0, duration_s=_seconds(closed, origin) if closed else None,
        detail=final[2] if final else _moved_summary(moved)))
    return rows


def _epoch(value):
    if not isinstance(value, (int, float)):
        return None
    return datetime.datetime.fromtimestamp(value, datetime.timezone.utc)


def _vm_detail(moved, status, requests, powered):
    moved = moved if isinstance(moved, dict) else {}
    if status == 'done':
        text = summarise(EVACUATE_PREFIX, moved)
    elif status == 'failed':
        text = 'error: %s' % moved['error'] if moved.get('error') else ''
    elif status == 'gone':
        text = 'deleted'
    else:
        text = ''
    extra = []
    if requests > 1:
        extra.append('%d requests' % requests)
    if powered:
        extra.append('power restored')
    return ', '.join([text] + extra if text else extra)


def _moved_summary(moved):
    outcomes = [d.get('outcome') for d in moved.values()
                if isinstance(d, dict)]
    if not outcomes:
        return ''
    return ', '.join('%s=%d' % (o, outcomes.count(o))
                     for o in sorted(set(outcomes), key=str))
