"""Judgements as pure functions: facts in, a decision out.  No I/O here.

``choose_vms`` is the one plan of which VMs a failed host's recovery moves
(nova_ha.engine, and the maintenance drain and capacity planner that must
agree with it); ``vm_restart_decision`` is the VM-failure incident's
(nova_ha.engine.vm_failure).
"""

import dataclasses
from typing import Optional

from nova_ha.model import servers as ha_servers

# Nova's server statuses the engine cares about.
ACTIVE = 'ACTIVE'
SHUTOFF = 'SHUTOFF'
ERROR = 'ERROR'
# Deleted servers: a changes-since read lists them; nothing to evacuate.
GONE = ('DELETED', 'SOFT_DELETED')


@dataclasses.dataclass(frozen=True)
class VMPlan:
    """One VM to move, with what it was before its host died."""

    id: str
    name: str
    priority: int
    status: str         # Nova status before the failure: restore it after
    problems: tuple = ()


def choose_vms(servers, evacuate_all=False):
    """The VMs to evacuate, highest ``ha:priority`` first.

    ``servers``: dicts with id, name, status, metadata.  Ties keep a stable
    order by name then id, so that two engines plan identically.
    """
    plans = []
    for server in servers:
        if server.get('status') in GONE:
            continue
        policy = ha_servers.server_policy(server.get('metadata'),
                                          evacuate_all=evacuate_all)
        if not policy.enabled:
            continue
        plans.append(VMPlan(server['id'], server.get('name') or '',
                            policy.priority, server.get('status') or '',
                            policy.problems))
    plans.sort(key=lambda p: (-p.priority, p.name, p.id))
    return plans


@dataclasses.dataclass(frozen=True)
class RestartDecision:
    action: Optional[str]      # 'start', 'hard_reboot', 'migrate' or None
    reason: str
    escalate: bool = False


def vm_restart_decision(status, task_state, attempts, max_attempts,
                        user_stopped=False, can_migrate=False):
    """How to bring a failed VM back, or why not: an escalation ladder.

    ========  ==============================  ============================
    attempts  action                          why
    ========  ==============================  ============================
    0         start (SHUTOFF), hard reboot    the usual crash
              (ACTIVE, ERROR)
    1..max-1  hard reboot                     a restart that did not hold:
                                              the guest is recreated from
                                              Nova's definition
    max       migrate (when ``can_migrate``)  the host may be the cause: a
                                              cold migration to another
                                              host of its segment
    beyond    none, escalated to a person     the budget is spent
    ========  ==============================  ============================

    A VM its owner stopped is never restarted.  ``attempts`` counts earlier
    tries (restarts and the migration) of the same VM within the window.
    """
    if user_stopped:
        return RestartDecision(None, 'stopped by its user: not restarted')
    ladder_end = max_attempts + (1 if can_migrate else 0)
    if attempts >= ladder_end:
        return RestartDecision(None, 'restarted %d times already%s; giving '
                               'up and escalating' % (
                                   attempts, ' (moved once)' if can_migrate
                                   else ''), escalate=True)
    if task_state:
        return RestartDecision(None, 'Nova is busy with it (task_state %s)'
                               % task_state)
    if attempts >= max_attempts:
        if status in (SHUTOFF, ACTIVE, ERROR):
            return RestartDecision('migrate', 'restarted %d times on its '
                                   'host: moving it to another host of its '
                                   'segment' % attempts)
        return RestartDecision(None, 'status %s cannot be migrated' % status)
    if status == SHUTOFF and attempts == 0:
        return RestartDecision('start', 'stopped after a failure: start it')
    if status in (ACTIVE, ERROR, SHUTOFF):
        # ACTIVE with a dead guest (Nova has not synced yet), ERROR, or a
        # restart that did not hold: a hard reboot recreates the guest
        # from Nova's definition.
        return RestartDecision('hard_reboot', 'guest failed while %s%s: hard'
                               ' reboot' % (status, ' again' if attempts
                                            else ''))
    return RestartDecision(None, 'status %s is not restartable' % status)
