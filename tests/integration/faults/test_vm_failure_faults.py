"""A VM-failure incident under a real fault: its owner is killed.

Three engine processes (see harness.py) share Redis leases, RabbitMQ and
PostgreSQL; a VM on a1 crashes for the second time within the restart
window, so its incident waits out a back-off, and the replica that owns
it is killed during the wait.  Judged from Nova's records (the VM's
instance actions: one restart, not two) and the history (one incident,
recovered, taken over by another replica).
"""

import time

from nova.compute import power_state
from nova import context as nova_context

from nova_ha.engine import vm_failure
from nova_ha.notifier import events
from tests.integration.faults import harness


class VMFailureOwnerKilled(harness.FaultCloud):

    VMS = 2
    STOPPED = 0
    # A back-off long enough to kill the owner in, and to take over in.
    ENGINE_OPTIONS = {'vm_restart_backoff': 3 * harness.LEASE_TTL}

    def crash(self, vm):
        """The guest dies under nova-compute; Nova's power sync stops
        the server (no user)."""
        compute = self.computes[harness.HOST]
        compute.driver.instances[vm].state = power_state.SHUTDOWN
        compute.manager._sync_power_states(nova_context.get_admin_context())
        self.wait_for(lambda: self.admin_api.get_server(vm)['status'] ==
                      'SHUTOFF', what='%s SHUTOFF' % vm)

    def reboots(self, vm):
        return [a for a in self.admin_api.get_instance_actions(vm)
                if a['action'] in ('reboot', 'start')]

    def test_owner_killed_during_the_back_off(self):
        vm = next(v for v, status in self.vms.items() if status == 'ACTIVE')
        # Its first failure within the window, in the history already.
        self.history.upgrade()
        self.history.open_incident(
            'vm_failure:%s:1' % vm, vm_failure.KIND, host=harness.HOST,
            instance=vm, state=vm_failure.RECOVERED, generation=1,
            detail={'vm': vm, 'tries': [time.time()]})
        self.start_engines()
        self.crash(vm)
        self.engines[0].publish(events.VM_FAILURE, harness.HOST,
                                instance=vm, cause='crashed')
        key = 'vm_failure:%s:2' % vm

        def state():
            incident = self.history.get_incident(key)
            return incident and incident.state
        self.wait_for(lambda: state() == vm_failure.BACKING_OFF,
                      what='%s backing off' % key)
        owner = self.owner()
        self.assertIsNotNone(owner)
        owner.kill()
        self.wait_for(lambda: state() == vm_failure.RECOVERED, timeout=120,
                      what='%s recovered' % key)
        self.assertEqual('ACTIVE', self.admin_api.get_server(vm)['status'])
        self.assertEqual(1, len(self.reboots(vm)), self.reboots(vm))
        records = self.history.query(incident=key)
        took_over = [r for r in records
                     if r.kind == 'lease' and 'took over' in r.message]
        self.assertEqual(1, len(took_over), [r.message for r in records])
        self.assertNotIn(':%d ' % owner.pid, took_over[0].message)
