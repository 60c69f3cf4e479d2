"""The recovery timeline of one incident, as timed rows: pure.

Rows, in the order things began:

* ``detection``: from the failure report to the incident's opening (the
  guard: storm settle time, confirmation, locks);
* one row per recorded step (``fence``, ``force_down``, ``disable``,
  ``plan``, ``evacuate:<vm>``, ``reserved``...), from its start to its last
  mark; a step still ``started`` has no end yet;
* ``total``: from the failure report to the incident's close.

Offsets (``at_s``) count from the failure report, so the rows of several
incidents compare.
"""

import dataclasses
import datetime
from typing import Optional

from nova_ha.reports import availability

DETECTION = 'detection'
TOTAL = 'total'
EVACUATE_PREFIX = 'evacuate:'


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


def vm_names(steps):
    """VM id -> name, from the incident's plan step."""
    plan = steps.get('plan')
    vms = ((plan.detail or {}).get('vms', []) if plan else [])
    return {vm['id']: vm.get('name') or vm['id'] for vm in vms}


def incident_timeline(incident, steps):
    """TimelineRows of ``incident`` from its ``steps`` (name -> Step)."""
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
