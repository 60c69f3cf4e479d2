"""What would happen to a segment's VMs if some of its hosts failed: pure.

The simulation moves the same VMs the engine would move, in the same
order, to the hosts the scheduler would pick:

* which VMs: nova_ha.engine.decisions.choose_vms, the engine's own plan
  (HA-tagged VMs, or all with ``ha:evacuate_all``; highest ``ha:priority``
  first, ties by name then id);
* which hosts may receive a VM: the scheduler's pure rules
  nova_ha.scheduler.policy.reserved_capacity and segment_boundary for a
  failover request from the failed host (so this check cannot disagree with
  HAReservedHostFilter and HASegmentFilter), among hosts whose compute
  service is up, enabled and not in maintenance (Nova's ComputeFilter);
* whether it fits: placement's claim rule (see nova_ha.capacity.model);
* which fitting host wins: Nova's weighing with HAFailoverWeigher
  (policy.failover_preference times ``failover_weight_multiplier``) plus the
  RAMWeigher (free RAM normalised to 0..1 over the fitting hosts, times
  ``ram_weight_multiplier``).  Nova's other default weighers (CPU, disk,
  I/O ops, affinity...) are left out; ties go to the host name that sorts
  first, where Nova's choice is arbitrary.  This approximates the default
  weighers: with the default multipliers the preferred kind of host always
  wins and, among those, the one with the most free RAM.

Failed hosts are recovered one after the other, each like the engine's own
host recovery: its VMs in priority order, then the reserved hosts that
received VMs stop being reserved (step ``reserved`` of the engine).  A
later failure in the same simulation therefore cannot count on a reserved
host the earlier one consumed, which matters for ``reserved_host``.

"Largest" hosts (the default choice of hosts to fail) are those whose
failure displaces the most: the HA VMs to move, measured by their dominant
share, ``max`` over VCPU, MEMORY_MB and DISK_GB of (their allocations /
the segment's total capacity of that class).  Ties: the host's whole usage
by the same measure, then the name.  Hosts already down join the failed set
on top of the k chosen ones; hosts in maintenance never fail here (HA is
silenced for them).
"""

import dataclasses
from typing import Optional

from nova_ha.capacity import model
from nova_ha.engine import decisions
from nova_ha.scheduler import policy
from nova_ha.scheduler import request

OK = 'OK'
WARNING = 'WARNING'
DISABLED = 'DISABLED'


@dataclasses.dataclass(frozen=True)
class Weights:
    """Multipliers of the weighers the simulation imitates (Nova's and
    nova-ha's defaults)."""

    failover_weight_multiplier: float = 1000.0
    ram_weight_multiplier: float = 1.0


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where one evacuated VM would land; ``target`` None: nowhere."""

    vm_id: str
    vm_name: str
    priority: int
    source: str
    target: Optional[str]
    reason: str = ''

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Simulation:
    failed_hosts: tuple
    placements: tuple
    consumed_reserved: tuple = ()

    @property
    def unplaced(self):
        return [p for p in self.placements if p.target is None]

    @property
    def ok(self):
        return not self.unplaced


class UnknownHosts(ValueError):
    """Hosts named for a what-if are not failable hosts of the segment."""


def evacuees(cloud, host_name):
    """The VMs the engine would evacuate from ``host_name``, in its order:
    [(decisions.VMPlan, model.VM)]."""
    host = cloud.hosts[host_name]
    segment = host.view.segment
    vms = {vm.id: vm for vm in cloud.vms_on(host_name)}
    plans = decisions.choose_vms(
        [vm.as_server() for vm in vms.values()],
        evacuate_all=bool(segment and segment.evacuate_all))
    return [(plan, vms[plan.id]) for plan in plans]


def simulate(cloud, failed_hosts, weights=Weights()):
    """Recover ``failed_hosts`` one after the other (see module doc)."""
    failed = set(failed_hosts)
    used = {name: dict(host.used) for name, host in cloud.hosts.items()}
    views = {name: host.view for name, host in cloud.hosts.items()}
    placements = []
    consumed = []
    for source in failed_hosts:
        received = set()
        for plan, vm in evacuees(cloud, source):
            facts = request.RequestFacts(
                request.RequestKind.FAILOVER, instance_uuid=vm.id,
                source_host=source, source_view=cloud.hosts[source].view)
            target, reason = _choose_target(cloud, facts, vm, used, views,
                                            failed, weights)
            if target is not None:
                for rc, amount in vm.resources.items():
                    used[target][rc] = used[target].get(rc, 0) + amount
                received.add(target)
            placements.append(Placement(vm.id, vm.name, plan.priority,
                                        source, target, reason))
        for name in sorted(received):
            if views[name].reserved:
                views[name] = dataclasses.replace(views[name],
                                                  reserved=False)
                consumed.append(name)
    return Simulation(tuple(failed_hosts), tuple(placements),
                      tuple(consumed))


def _choose_target(cloud, facts, vm, used, views, failed, weights):
    """(host name, why) for one VM, or (None, why not)."""
    allowed = []
    for host in cloud.hosts.values():
        if host.name in failed or not host.can_receive:
            continue
        view = views[host.name]
        if not policy.reserved_capacity(lambda: facts, view).passes:
            continue
        if not policy.segment_boundary(facts, view).passes:
            continue
        allowed.append(host)
    if not allowed:
        return None, ('no host of segment %s may receive it (all failed, '
                      'down, disabled or in maintenance, or excluded by '
                      'its recovery method)' % facts.source_view.segment_name)
    fitting = []
    refusals = []
    for host in sorted(allowed, key=lambda h: h.name):
        why = host.refusal(used[host.name], vm.resources)
        if why:
            refusals.append('%s: %s' % (host.name, why))
        else:
            fitting.append(host)
    if not fitting:
        return None, 'no room: ' + '; '.join(refusals)
    free = [host.free_ram_mb(used[host.name]) for host in fitting]
    low, high = min(free), max(free)

    def weight(index):
        host = fitting[index]
        ram = (free[index] - low) / (high - low) if high > low else 0.0
        return (weights.failover_weight_multiplier *
                policy.failover_preference(facts, views[host.name]) +
                weights.ram_weight_multiplier * ram)

    best = max(range(len(fitting)), key=lambda i: (weight(i), -i))
    host = fitting[best]
    kind = 'reserved' if views[host.name].reserved else 'ordinary'
    return host.name, '%s host, %d MB RAM free before' % (kind, free[best])


def _share(amounts, totals):
    """Dominant share of ``amounts`` against ``totals`` (per class)."""
    return max((amounts.get(rc, 0) / totals[rc]
                for rc in model.STANDARD_CLASSES if totals.get(rc)),
               default=0.0)


def segment_capacity(hosts):
    totals = {}
    for host in hosts:
        for rc, inventory in host.inventories.items():
            totals[rc] = totals.get(rc, 0) + inventory.capacity
    return totals


def displaced_share(cloud, host_name, totals):
    """How much of the segment the HA VMs of ``host_name`` take."""
    demand = {}
    for _plan, vm in evacuees(cloud, host_name):
        for rc, amount in vm.resources.items():
            demand[rc] = demand.get(rc, 0) + amount
    return _share(demand, totals)


def failable_hosts(cloud, segment):
    """Hosts of the segment whose failure the engine would recover."""
    return [h for h in cloud.segment_hosts(segment)
            if not h.in_maintenance]


def largest_hosts(cloud, segment, k):
    """The k running hosts whose failure displaces the most (module doc)."""
    hosts = failable_hosts(cloud, segment)
    totals = segment_capacity(cloud.segment_hosts(segment))
    running = [h for h in hosts if h.service_up]
    running.sort(key=lambda h: (-displaced_share(cloud, h.name, totals),
                                -_share(h.used, totals), h.name))
    return [h.name for h in running[:max(0, k)]]


@dataclasses.dataclass(frozen=True)
class SegmentCheck:
    """The verdict on one segment for one failure scenario."""

    segment: str
    recovery_method: str
    verdict: str
    hosts: tuple
    reserved_hosts: tuple       # reserved and able to receive VMs now
    already_down: tuple
    chosen: tuple               # the k hosts failed on top of those
    simulation: Optional[Simulation]
    notes: tuple = ()


def check_segment(cloud, segment, failures=1, hosts=None,
                  weights=Weights()):
    """Can ``segment`` absorb the failure of its ``failures`` largest hosts
    (or of ``hosts``, when given) on top of the hosts already down?"""
    policy_ = cloud.segments()[segment]
    members = cloud.segment_hosts(segment)
    reserved = tuple(h.name for h in members
                     if h.view.reserved and h.can_receive)
    notes = []
    common = dict(segment=segment,
                  recovery_method=policy_.recovery_method.value,
                  hosts=tuple(h.name for h in members),
                  reserved_hosts=reserved)
    if not policy_.enabled:
        return SegmentCheck(verdict=DISABLED, already_down=(), chosen=(),
                            simulation=None, notes=tuple(notes + [
                                'ha:enabled=false: the engine does not '
                                'recover this segment']), **common)
    failable = failable_hosts(cloud, segment)
    down = tuple(h.name for h in failable if not h.service_up)
    if hosts:
        names = {h.name for h in failable}
        unknown = sorted(set(hosts) - names)
        if unknown:
            raise UnknownHosts('%s: not failable hosts of segment %s '
                               '(hosts: %s)' % (', '.join(unknown), segment,
                                                ', '.join(sorted(names))))
        chosen = tuple(h for h in hosts if h not in down)
    else:
        chosen = tuple(largest_hosts(cloud, segment, failures))
        running = len(failable) - len(down)
        if failures > running:
            notes.append('asked for %d failures, the segment has %d '
                         'running hosts that can fail' % (failures, running))
    simulation = simulate(cloud, down + chosen, weights)
    verdict = OK if simulation.ok else WARNING
    if simulation.unplaced:
        notes.append('%d of %d VMs to evacuate find no host' % (
            len(simulation.unplaced), len(simulation.placements)))
    return SegmentCheck(verdict=verdict, already_down=down, chosen=chosen,
                        simulation=simulation, notes=tuple(notes), **common)
