"""The failover simulation on hand-built clouds (pure: no Nova needed).

Every host below has placement's view of a MediumFakeDriver-like node
unless a test says otherwise: 10 VCPU at allocation ratio 4.0 (40 usable),
8192 MB of RAM of which 512 reserved (7680 usable), 100 GB of disk.
"""

import collections
import unittest

from nova_ha.capacity import model
from nova_ha.capacity import packing
from nova_ha.model import aggregates as ha_aggregates

Agg = collections.namedtuple('Agg', 'name metadata')

GB4 = {'VCPU': 1, 'MEMORY_MB': 4096, 'DISK_GB': 1}
GB2 = {'VCPU': 1, 'MEMORY_MB': 2048, 'DISK_GB': 1}


def inventories(ram=8192, ram_reserved=512, vcpu=10, ratio=4.0, disk=100):
    return {'VCPU': model.Inventory(vcpu, allocation_ratio=ratio),
            'MEMORY_MB': model.Inventory(ram, reserved=ram_reserved),
            'DISK_GB': model.Inventory(disk)}


class CloudBuilder:
    """A cloud of segments, one aggregate per segment, plus a reserved
    aggregate, as an operator declares them."""

    def __init__(self):
        self.hosts = {}
        self.vms = []

    def host(self, name, segment='seg', reserved=False, method=None,
             evacuate_all=None, maintenance=False, up=True, enabled=True,
             inv=None):
        aggs = []
        if segment:
            metadata = {ha_aggregates.SEGMENT_KEY: segment}
            if method:
                metadata[ha_aggregates.RECOVERY_METHOD_KEY] = method
            if evacuate_all is not None:
                metadata[ha_aggregates.EVACUATE_ALL_KEY] = evacuate_all
            aggs.append(Agg(segment, metadata))
        if reserved:
            aggs.append(Agg('reserved', {ha_aggregates.RESERVED_KEY: 'true'}))
        if maintenance:
            aggs.append(Agg('maint', {ha_aggregates.MAINTENANCE_KEY: 'true'}))
        self.hosts[name] = model.Host(
            name=name, view=ha_aggregates.host_view(aggs),
            inventories=inv or inventories(), used={}, service_up=up,
            service_enabled=enabled)
        return self

    def vm(self, name, host, resources, ha=True, priority=None,
           status='ACTIVE'):
        metadata = {}
        if ha:
            metadata['ha:enabled'] = 'true'
        if priority is not None:
            metadata['ha:priority'] = str(priority)
        self.vms.append(model.VM(id='id-' + name, name=name, host=host,
                                 status=status, metadata=metadata,
                                 resources=dict(resources)))
        host_ = self.hosts[host]
        used = dict(host_.used)
        for rc, amount in resources.items():
            used[rc] = used.get(rc, 0) + amount
        self.hosts[host] = model.Host(**dict(vars(host_), used=used))
        return self

    def build(self):
        return model.Cloud(hosts=dict(self.hosts), vms=tuple(self.vms))


def targets(simulation):
    return {p.vm_name: p.target for p in simulation.placements}


class TestWhereVMsGo(unittest.TestCase):

    def test_rh_priority_fills_the_reserved_host_then_the_roomiest(self):
        # spare takes one 4 GB VM (7680 usable); the second goes to the
        # ordinary host with the most free RAM (o2: 7680 free, o3: 5632).
        cloud = (CloudBuilder()
                 .host('o1').host('o2').host('o3').host('spare', reserved=True)
                 .vm('big1', 'o1', GB4, priority=2)
                 .vm('big2', 'o1', GB4, priority=1)
                 .vm('plain', 'o1', GB2, ha=False)
                 .vm('other', 'o3', GB2)
                 .build())
        sim = packing.simulate(cloud, ['o1'])
        self.assertEqual({'big1': 'spare', 'big2': 'o2'}, targets(sim))
        self.assertTrue(sim.ok)
        self.assertEqual(('spare',), sim.consumed_reserved)

    def test_auto_never_uses_reserved_hosts(self):
        cloud = (CloudBuilder()
                 .host('o1', method='auto').host('o2', method='auto')
                 .host('spare', reserved=True, method='auto')
                 .vm('a', 'o1', GB4).vm('b', 'o1', GB2)
                 .vm('filler', 'o2', GB4, ha=False)
                 .build())
        sim = packing.simulate(cloud, ['o1'])
        # o2 has 7680 - 4096 = 3584 MB: b (2 GB) fits, a (4 GB) does not.
        self.assertEqual({'a': None, 'b': 'o2'}, targets(sim))
        self.assertIn('o2: MEMORY_MB 4096: 3584 free of 7680',
                      sim.unplaced[0].reason)

    def test_reserved_host_method_uses_only_reserved_hosts(self):
        cloud = (CloudBuilder()
                 .host('o1', method='reserved_host')
                 .host('o2', method='reserved_host')
                 .host('spare', reserved=True, method='reserved_host')
                 .vm('a', 'o1', GB4, priority=5).vm('b', 'o1', GB4)
                 .build())
        sim = packing.simulate(cloud, ['o1'])
        # Priority 5 gets the reserved host; b finds no room there and
        # may not use the empty ordinary o2.
        self.assertEqual({'a': 'spare', 'b': None}, targets(sim))

    def test_auto_priority_prefers_ordinary_hosts(self):
        cloud = (CloudBuilder()
                 .host('o1', method='auto_priority')
                 .host('o2', method='auto_priority')
                 .host('spare', reserved=True, method='auto_priority')
                 .vm('a', 'o1', GB4, priority=1).vm('b', 'o1', GB4)
                 .build())
        sim = packing.simulate(cloud, ['o1'])
        self.assertEqual({'a': 'o2', 'b': 'spare'}, targets(sim))

    def test_priority_decides_who_gets_the_last_room(self):
        cloud = (CloudBuilder()
                 .host('o1', method='reserved_host')
                 .host('spare', reserved=True, method='reserved_host')
                 .vm('low', 'o1', GB4, priority=1)
                 .vm('high', 'o1', GB4, priority=9)
                 .build())
        sim = packing.simulate(cloud, ['o1'])
        self.assertEqual(['high', 'low'],
                         [p.vm_name for p in sim.placements])
        self.assertEqual({'high': 'spare', 'low': None}, targets(sim))

    def test_evacuate_all_moves_untagged_vms(self):
        cloud = (CloudBuilder()
                 .host('o1', evacuate_all='true')
                 .host('spare', reserved=True, evacuate_all='true')
                 .vm('untagged', 'o1', GB2, ha=False)
                 .build())
        self.assertEqual({'untagged': 'spare'},
                         targets(packing.simulate(cloud, ['o1'])))

    def test_other_segments_and_unsegmented_hosts_are_never_targets(self):
        cloud = (CloudBuilder()
                 .host('o1').host('x1', segment='other')
                 .host('free', segment=None)
                 .vm('a', 'o1', GB2)
                 .build())
        sim = packing.simulate(cloud, ['o1'])
        self.assertEqual({'a': None}, targets(sim))
        self.assertIn('no host of segment seg may receive it',
                      sim.unplaced[0].reason)

    def test_down_disabled_and_maintenance_hosts_receive_nothing(self):
        cloud = (CloudBuilder()
                 .host('o1').host('down', up=False)
                 .host('disabled', enabled=False)
                 .host('maint', maintenance=True)
                 .vm('a', 'o1', GB2)
                 .build())
        self.assertEqual({'a': None},
                         targets(packing.simulate(cloud, ['o1'])))

    def test_placement_rules_allocation_ratio_and_max_unit(self):
        # 2 physical VCPUs at ratio 4.0: 8 usable; 6 used, 2 fit, 3 do not.
        small = inventories(vcpu=2, ratio=4.0)
        small['VCPU'] = model.Inventory(2, allocation_ratio=4.0, max_unit=2)
        cloud = (CloudBuilder()
                 .host('o1').host('spare', reserved=True, inv=small)
                 .vm('filler', 'spare', {'VCPU': 2}, ha=False)
                 .vm('filler2', 'spare', {'VCPU': 2}, ha=False)
                 .vm('filler3', 'spare', {'VCPU': 2}, ha=False)
                 .vm('two', 'o1', {'VCPU': 2}, priority=2)
                 .vm('more', 'o1', {'VCPU': 2}, priority=1)
                 .build())
        sim = packing.simulate(cloud, ['o1'])
        # two -> spare (6 + 2 = 8 <= 8); more: the spare is full and the
        # segment has no other host left: unplaced.
        self.assertEqual({'two': 'spare', 'more': None}, targets(sim))
        self.assertIn('VCPU 2: 0 free of 8', sim.unplaced[0].reason)
        inventory = model.Inventory(2, allocation_ratio=4.0, max_unit=2)
        self.assertIn('max_unit', inventory.refusal(0, 3))

    def test_a_consumed_reserved_host_is_not_reserved_for_the_next(self):
        # reserved_host: the first failure consumes the spare (the engine
        # removes it from the reserved aggregate); the second failure may
        # then not use it although it still has room.
        cloud = (CloudBuilder()
                 .host('o1', method='reserved_host')
                 .host('o2', method='reserved_host')
                 .host('spare', reserved=True, method='reserved_host')
                 .vm('a', 'o1', GB2).vm('b', 'o2', GB2)
                 .build())
        sim = packing.simulate(cloud, ['o1', 'o2'])
        self.assertEqual({'a': 'spare', 'b': None}, targets(sim))


class TestCheckSegment(unittest.TestCase):

    def cloud(self):
        return (CloudBuilder()
                .host('o1').host('o2').host('o3')
                .host('spare', reserved=True)
                .vm('small', 'o1', GB2)
                .vm('big', 'o2', GB4).vm('big2', 'o2', GB2)
                .vm('nonha', 'o3', {'VCPU': 1, 'MEMORY_MB': 7000},
                    ha=False)
                .build())

    def test_largest_hosts_are_those_displacing_the_most(self):
        # HA load: o2 6 GB, o1 2 GB, o3 0 (its VM is not HA, though it
        # uses the most RAM).
        self.assertEqual(['o2', 'o1'],
                         packing.largest_hosts(self.cloud(), 'seg', 2))

    def test_one_failure_is_absorbed(self):
        check = packing.check_segment(self.cloud(), 'seg', 1)
        self.assertEqual(packing.OK, check.verdict)
        self.assertEqual(('o2',), check.chosen)
        self.assertEqual(('spare',), check.reserved_hosts)

    def test_three_failures_are_not(self):
        check = packing.check_segment(self.cloud(), 'seg', 3)
        # o2's VMs take the spare (6 GB of 7680 MB), o1's 2 GB VM does not
        # fit there and every ordinary host has failed.
        self.assertEqual(packing.WARNING, check.verdict)
        self.assertEqual(['small'],
                         [p.vm_name for p in check.simulation.unplaced])

    def test_hosts_already_down_fail_on_top_of_k(self):
        cloud = (CloudBuilder()
                 .host('o1', up=False).host('o2').host('spare', reserved=True)
                 .vm('stuck', 'o1', GB4).vm('b', 'o2', GB4)
                 .build())
        check = packing.check_segment(cloud, 'seg', 1)
        self.assertEqual(('o1',), check.already_down)
        self.assertEqual(('o2',), check.chosen)
        self.assertEqual({'stuck': 'spare', 'b': None},
                         targets(check.simulation))

    def test_named_hosts_replace_the_largest(self):
        check = packing.check_segment(self.cloud(), 'seg', hosts=['o3'])
        self.assertEqual(('o3',), check.chosen)
        self.assertEqual((), check.simulation.placements)
        with self.assertRaises(packing.UnknownHosts):
            packing.check_segment(self.cloud(), 'seg', hosts=['nope'])

    def test_a_disabled_segment_is_not_judged(self):
        cloud = (CloudBuilder().host('o1').build())
        view = cloud.hosts['o1'].view
        off = model.Host(**dict(vars(cloud.hosts['o1']), view=type(view)(
            segment=ha_aggregates.Segment('seg', enabled=False))))
        check = packing.check_segment(
            model.Cloud(hosts={'o1': off}, vms=()), 'seg', 1)
        self.assertEqual(packing.DISABLED, check.verdict)
        self.assertIsNone(check.simulation)
