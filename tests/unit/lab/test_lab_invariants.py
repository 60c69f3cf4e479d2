"""The lab's invariants: pure tables of ledgers, servers and migrations."""

import unittest

from nova_ha_lab import invariants


def ledger(**guests):
    return {'boot': 1.0, 'guests': guests}


class RunningTwiceTest(unittest.TestCase):

    def test_a_vm_on_two_live_hosts_is_found(self):
        ledgers = {'a1': ledger(vm1='running'), 'a2': ledger(vm1='running')}
        self.assertEqual([('vm1', ['a1', 'a2'])],
                         invariants.running_twice(ledgers, {'a1', 'a2'}))

    def test_a_dead_host_runs_nothing(self):
        # a1 lost power with vm1 in its ledger; the copy on a2 is the only
        # one running.
        ledgers = {'a1': ledger(vm1='running'), 'a2': ledger(vm1='running')}
        self.assertEqual([], invariants.running_twice(ledgers, {'a2'}))

    def test_a_stopped_guest_does_not_run(self):
        ledgers = {'a1': ledger(vm1='shutdown'), 'a2': ledger(vm1='running')}
        self.assertEqual([], invariants.running_twice(ledgers, {'a1', 'a2'}))

    def test_a_host_that_never_booted_has_no_ledger(self):
        self.assertEqual([], invariants.running_twice(
            {'a1': None, 'a2': ledger(vm1='running')}, {'a1', 'a2'}))


class MovesTest(unittest.TestCase):

    def test_a_moved_non_ha_vm_is_reported(self):
        servers = {'vm': {'OS-EXT-SRV-ATTR:host': 'a2'}}
        self.assertEqual(['non-HA VM vm moved from a1 to a2'],
                         invariants.non_ha_moved({'vm': 'a1'}, servers))
        self.assertEqual([], invariants.non_ha_moved({'vm': 'a2'}, servers))

    def test_a_reserved_host_holds_only_failovers(self):
        servers = {'came': {'OS-EXT-SRV-ATTR:host': 'spare'},
                   'booted': {'OS-EXT-SRV-ATTR:host': 'spare'},
                   'elsewhere': {'OS-EXT-SRV-ATTR:host': 'a2'}}
        migrations = [
            {'instance_uuid': 'came', 'dest_compute': 'spare',
             'migration_type': 'evacuation', 'status': 'done'},
            {'instance_uuid': 'booted', 'dest_compute': 'spare',
             'migration_type': 'evacuation', 'status': 'error'}]
        self.assertEqual(
            ['booted is on reserved host spare without a failover'],
            invariants.reserved_intruders(servers, {'spare'}, migrations))
