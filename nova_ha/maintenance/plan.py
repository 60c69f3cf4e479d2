"""The drain of a host as pure decisions: what to do with each VM, in which
order, and what an observation of a moving VM means.

No I/O here; nova_ha.maintenance.drain carries the decisions out.

Order: HA VMs first, highest ``ha:priority`` first (the engine's own
ordering, nova_ha.engine.decisions.choose_vms), then the other VMs by name.
What each VM gets, by its Nova status:

============================ ============================================
ACTIVE, PAUSED               live migration (the guest keeps running)
SHUTOFF                      cold migration, then its confirmation (a
                             stopped VM has no memory to copy; inside a
                             segment the disks are shared, so it is cheap)
task_state ``migrating``     a live migration already under way (e.g. from
                             an interrupted drain): waited for
cold migration off the host  confirmed (an interrupted drain left it
awaiting confirmation        in VERIFY_RESIZE on its new host)
ERROR, VERIFY_RESIZE, other  skipped with the reason: Nova cannot move
states, other tasks          them as they are, a person decides
============================ ============================================

Nothing is moved when the host's nova-compute is down: both kinds of
migration need the source compute.
"""

import dataclasses

from nova_ha.engine import decisions
from nova_ha.model import servers as ha_servers

LIVE = 'live_migrate'
COLD = 'cold_migrate'
CONFIRM = 'confirm'
SKIP = 'skip'

# Observations of a VM being moved.
MOVING = 'moving'
MOVED = 'moved'
FAILED = 'failed'
GONE = 'gone'
CONFIRM_NOW = 'confirm_now'

LIVE_MIGRATABLE = ('ACTIVE', 'PAUSED')
VERIFY_RESIZE = 'VERIFY_RESIZE'
LIVE_MIGRATING_TASK = 'migrating'


@dataclasses.dataclass(frozen=True)
class DrainItem:
    id: str
    name: str
    ha: bool
    priority: int
    status: str
    action: str
    # True when Nova is already moving the VM (an earlier, interrupted
    # drain started it): wait for it instead of starting another move.
    resume: bool = False
    reason: str = ''


@dataclasses.dataclass(frozen=True)
class Observation:
    state: str
    target: str = None
    reason: str = ''


def plan_drain(servers, *, evacuate_all=False, source_up=True,
               awaiting_confirmation=()):
    """The ordered DrainItems for the VMs of a host.

    ``servers``: the VMs on the host (dicts: id, name, status, task_state,
    metadata).  ``evacuate_all``: the host's segment treats every VM as HA.
    ``awaiting_confirmation``: VMs cold-migrated off the host whose
    migration still waits for confirmation (dicts: id, name, status,
    metadata); they come first, as they are nearly done.
    """
    by_id = {s['id']: s for s in servers}
    ha_order = decisions.choose_vms(servers, evacuate_all=evacuate_all)
    ha_ids = [p.id for p in ha_order]
    others = sorted((s for s in servers if s['id'] not in set(ha_ids)),
                    key=lambda s: (s.get('name') or '', s['id']))
    items = [_item(s, evacuate_all, CONFIRM, resume=True)
             for s in awaiting_confirmation]
    for server in [by_id[i] for i in ha_ids] + others:
        action, resume, reason = _action_for(server, source_up)
        items.append(_item(server, evacuate_all, action, resume, reason))
    return items


def _item(server, evacuate_all, action, resume=False, reason=''):
    policy = ha_servers.server_policy(server.get('metadata'),
                                      evacuate_all=evacuate_all)
    return DrainItem(id=server['id'], name=server.get('name') or '',
                     ha=policy.enabled, priority=policy.priority,
                     status=server.get('status') or '', action=action,
                     resume=resume, reason=reason)


def _action_for(server, source_up):
    """(action, resume, reason) for one VM still on the host."""
    status = server.get('status') or ''
    task = server.get('task_state')
    if not source_up:
        return SKIP, False, ('nova-compute on the host is down: Nova moves '
                             'no VM off it (both live and cold migration '
                             'need the source compute)')
    if task == LIVE_MIGRATING_TASK:
        return LIVE, True, 'already being live-migrated: waiting for it'
    if task:
        return SKIP, False, ('Nova is busy with it (task_state %s): run '
                             '"maintenance enter" again when it is done'
                             % task)
    if status in LIVE_MIGRATABLE:
        return LIVE, False, ''
    if status == decisions.SHUTOFF:
        return COLD, False, ''
    if status == decisions.ERROR:
        return SKIP, False, ('in ERROR: Nova moves it only once its state '
                             'has been checked and reset by a person')
    if status == VERIFY_RESIZE:
        return SKIP, False, ('resized onto this host and awaiting its '
                             'owner\'s confirmation: confirm or revert '
                             'it, then run "maintenance enter" again')
    return SKIP, False, ('Nova live-migrates only ACTIVE or PAUSED VMs and '
                         'cold-migrates SHUTOFF ones; this one is %s'
                         % (status or 'in an unknown state'))


def observe(action, confirming, source, server, elapsed, timeout):
    """What Nova's current view of a VM being moved off ``source`` means.

    ``action``: LIVE, COLD or CONFIRM; ``confirming``: the confirmation
    was already requested; ``server``: dict (host, status, task_state) or
    None when the server no longer exists.
    """
    if server is None:
        return Observation(GONE, reason='deleted while the host was '
                           'being drained')
    host, status = server.get('host'), server.get('status')
    busy = bool(server.get('task_state'))
    cold = action in (COLD, CONFIRM)
    if not busy and cold and status == VERIFY_RESIZE and not confirming:
        return Observation(CONFIRM_NOW, target=host)
    settled = not busy and not (cold and status == VERIFY_RESIZE)
    if settled and host != source:
        return Observation(MOVED, target=host)
    if settled:
        kind = 'cold' if cold else 'live'
        return Observation(FAILED, reason='the %s migration ended with the '
                           'VM still on %s (%s)' % (kind, source, status))
    if elapsed > timeout:
        return Observation(FAILED, reason='not moved within %.0f s; Nova '
                           'may still finish it: run "maintenance enter" '
                           'again to check' % timeout)
    return Observation(MOVING)
