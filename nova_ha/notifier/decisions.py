"""The engine's judgements as pure functions: facts and ``now`` in, a
decision out.  No I/O here; the flows call these and carry out the result.
"""

import dataclasses
from typing import Optional

from nova_ha.model import servers as ha_servers

# Nova's server statuses the flows care about.
ACTIVE = 'ACTIVE'
SHUTOFF = 'SHUTOFF'
ERROR = 'ERROR'
# Deleted servers: a changes-since read lists them; nothing to evacuate.
GONE = ('DELETED', 'SOFT_DELETED')


@dataclasses.dataclass(frozen=True)
class Decision:
    proceed: bool
    reason: str
    alert: bool = False


def host_failure_guard(host, view, *, host_disabled_for_maintenance=False,
                       recovering=False, segment_hosts=(), down_hosts=(),
                       storm_max_share=0.5, allow_unsegmented=True):
    """May the engine start recovering a failed host?

    ``view`` is the host's HostHAView; ``segment_hosts`` every host of its
    segment and ``down_hosts`` those currently believed down (the failed
    host included).  A segment losing more than ``storm_max_share`` of its
    hosts at once is far more likely a network partition or a control-plane
    fault than simultaneous hardware deaths: evacuating would start the same
    VMs twice once the network heals, so the engine alerts and waits.
    """
    if recovering:
        return Decision(False, 'a recovery of %s is already running' % host)
    if view.maintenance or host_disabled_for_maintenance:
        return Decision(False, '%s is in maintenance: HA is silenced for it'
                        % host)
    if view.segment_conflict:
        return Decision(False, '%s is in more than one segment; fix its '
                        'aggregates (%s)' % (host, '; '.join(view.problems)),
                        alert=True)
    if view.segment is None:
        if allow_unsegmented:
            return Decision(True, '%s is in no segment: its HA VMs go '
                            'wherever the scheduler allows' % host)
        return Decision(False, '%s is in no failover segment' % host)
    segment = view.segment
    if not segment.enabled:
        return Decision(False, 'segment %s has ha:enabled=false'
                        % segment.name)
    share = storm_share(segment_hosts, down_hosts)
    if share > storm_max_share:
        return Decision(False, 'storm guard: %d of %d hosts of segment %s '
                        'are down at once (%.0f%% > %.0f%%); suspecting a '
                        'partition, not evacuating' % (
                            len(set(down_hosts) & set(segment_hosts)),
                            len(set(segment_hosts)), segment.name,
                            share * 100, storm_max_share * 100), alert=True)
    return Decision(True, 'recovering %s in segment %s (%s)' % (
        host, segment.name, segment.recovery_method.value))


def storm_share(segment_hosts, down_hosts):
    hosts = set(segment_hosts)
    if not hosts:
        return 0.0
    return len(hosts & set(down_hosts)) / len(hosts)


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


# Nova's vm_state -> the status its API shows (the states an evacuated
# VM can be in; others are shown upper-cased, as Nova does for most).
_STATUS_OF_VM_STATE = {'active': ACTIVE, 'stopped': SHUTOFF,
                       'error': ERROR}


def status_of_vm_state(vm_state):
    return _STATUS_OF_VM_STATE.get(vm_state, (vm_state or 'unknown').upper())


def power_restore_action(previous_status, status_now):
    """What to do after an evacuation so the VM is as it was.

    Since microversion 2.95 Nova leaves an evacuated VM stopped; a VM that
    was running must be started again.  A VM that was in ERROR stays in
    ERROR (Nova would otherwise hide that something needs a person).
    """
    if previous_status == ERROR:
        return 'reset_error' if status_now != ERROR else None
    if previous_status == ACTIVE and status_now == SHUTOFF:
        return 'start'
    if previous_status == SHUTOFF and status_now == ACTIVE:
        return 'stop'
    return None


@dataclasses.dataclass(frozen=True)
class RestartDecision:
    action: Optional[str]      # 'start', 'hard_reboot' or None
    reason: str
    escalate: bool = False


def vm_restart_decision(status, task_state, attempts, max_attempts,
                        user_stopped=False):
    """How to bring a failed VM back on its host, or why not.

    A VM its owner stopped is never restarted.  ``attempts`` counts earlier
    restarts of the same VM within the retry window; past ``max_attempts``
    the engine stops trying and escalates to a person.
    """
    if user_stopped:
        return RestartDecision(None, 'stopped by its user: not restarted')
    if attempts >= max_attempts:
        return RestartDecision(None, 'restarted %d times already; giving up'
                               ' and escalating' % attempts, escalate=True)
    if task_state:
        return RestartDecision(None, 'Nova is busy with it (task_state %s)'
                               % task_state)
    if status == SHUTOFF:
        return RestartDecision('start', 'stopped after a failure: start it')
    if status in (ACTIVE, ERROR):
        # ACTIVE with a dead guest (Nova has not synced yet) or ERROR: a
        # hard reboot recreates the guest from Nova's definition.
        return RestartDecision('hard_reboot', 'guest failed while %s: hard '
                               'reboot' % status)
    return RestartDecision(None, 'status %s is not restartable' % status)
