"""The cloud as the capacity check sees it: plain data, no I/O.

A ``Host`` carries what placement says about its compute node (inventory
per resource class with ``reserved`` and ``allocation_ratio``, current
usage) plus its HA view (segment, reserved, maintenance) from
nova_ha.model.aggregates and its compute service state.  A ``VM`` carries
its placement allocation on its host and its server metadata.

Fitting follows placement's own rule for claiming an allocation
(placement/objects/allocation.py): for every resource class requested,
``min_unit <= amount <= max_unit``, ``amount % step_size == 0`` and
``used + amount <= (total - reserved) * allocation_ratio``.
"""

import dataclasses
from typing import Mapping, Optional

from nova_ha.model import aggregates as ha_aggregates

VCPU = 'VCPU'
MEMORY_MB = 'MEMORY_MB'
DISK_GB = 'DISK_GB'
#: The classes Nova's flavors allocate; "largest host" is judged on these.
STANDARD_CLASSES = (VCPU, MEMORY_MB, DISK_GB)


@dataclasses.dataclass(frozen=True)
class Inventory:
    """One resource class of a resource provider, as placement has it."""

    total: int
    reserved: int = 0
    allocation_ratio: float = 1.0
    min_unit: int = 1
    max_unit: Optional[int] = None
    step_size: int = 1

    @property
    def capacity(self):
        """What placement lets allocations add up to."""
        return (self.total - self.reserved) * self.allocation_ratio

    def refusal(self, used, amount):
        """Why placement would refuse ``amount`` more (None: it fits)."""
        max_unit = self.total if self.max_unit is None else self.max_unit
        if amount < self.min_unit or amount > max_unit:
            return 'outside min_unit..max_unit (%d..%d)' % (self.min_unit,
                                                            max_unit)
        if self.step_size > 1 and amount % self.step_size:
            return 'not a multiple of step_size %d' % self.step_size
        if used + amount > self.capacity:
            return '%g free of %g' % (max(0, self.capacity - used),
                                      self.capacity)
        return None


@dataclasses.dataclass(frozen=True)
class Host:
    """A compute host: its node's inventory and usage, and its HA role."""

    name: str
    view: ha_aggregates.HostHAView
    inventories: Mapping[str, Inventory]
    used: Mapping[str, int]
    service_up: bool = True
    service_enabled: bool = True
    # The compute service was disabled by ``nova-ha maintenance enter``.
    maintenance_disabled: bool = False

    @property
    def in_maintenance(self):
        return self.view.maintenance or self.maintenance_disabled

    @property
    def can_receive(self):
        """Could the scheduler pick this host at all?  Nova's ComputeFilter
        and the COMPUTE_STATUS_DISABLED trait exclude disabled and down
        services, evacuations included."""
        return (self.service_up and self.service_enabled
                and not self.in_maintenance)

    def refusal(self, used, resources):
        """Why ``resources`` do not fit on top of ``used`` (None: fit)."""
        for rc, amount in sorted(resources.items()):
            if not amount:
                continue
            inventory = self.inventories.get(rc)
            if inventory is None:
                return '%s: none on this host' % rc
            reason = inventory.refusal(used.get(rc, 0), amount)
            if reason:
                return '%s %d: %s' % (rc, amount, reason)
        return None

    def free_ram_mb(self, used):
        """Free RAM as Nova's RAMWeigher sees it (no overcommit ratio)."""
        inventory = self.inventories.get(MEMORY_MB)
        if inventory is None:
            return 0
        return inventory.total - inventory.reserved - used.get(MEMORY_MB, 0)


@dataclasses.dataclass(frozen=True)
class VM:
    """A server and the resources its allocation holds on its host."""

    id: str
    name: str
    host: str
    status: str
    metadata: Mapping[str, str]
    resources: Mapping[str, int]

    def as_server(self):
        """The dict nova_ha.engine.decisions.choose_vms reads."""
        return {'id': self.id, 'name': self.name, 'status': self.status,
                'metadata': dict(self.metadata)}


@dataclasses.dataclass(frozen=True)
class Cloud:
    """Hosts by name, every VM, and what could not be read cleanly."""

    hosts: Mapping[str, Host]
    vms: tuple
    problems: tuple = ()

    def vms_on(self, host):
        return [vm for vm in self.vms if vm.host == host]

    def segments(self):
        """Segment name -> its policy (ha_aggregates.Segment)."""
        found = {}
        for host in self.hosts.values():
            if host.view.segment is not None:
                found.setdefault(host.view.segment.name, host.view.segment)
        return found

    def segment_hosts(self, name):
        return sorted((h for h in self.hosts.values()
                       if h.view.segment_name == name),
                      key=lambda h: h.name)
