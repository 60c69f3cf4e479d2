"""The lab's invariants, judged from the hosts' ledgers, Nova and the history.

Pure functions: observations in, findings out.

- never running twice: no VM in the ledgers of two live hosts at once
  (sampled through the whole scenario; a powered-off or hung host runs
  nothing, an isolated host still runs its guests);
- each failed host's HA VMs back in their earlier state on a host of their
  segment, evacuated once, never before the fence proof
  (``nova_ha_testbed.invariants.judge``, the fault tests' judge);
- non-HA VMs not moved;
- reserved hosts hold only VMs that came to them by evacuation.
"""

from nova_ha_testbed import invariants as recovery_invariants

RUNNING = 'running'


def live_guests(ledgers, live_hosts):
    """{vm: [hosts]} of the guests running on live hosts."""
    where = {}
    for host in sorted(live_hosts):
        for vm, state in ((ledgers.get(host) or {}).get('guests') or
                          {}).items():
            if state == RUNNING:
                where.setdefault(vm, []).append(host)
    return where


def running_twice(ledgers, live_hosts):
    """[(vm, hosts)] of the VMs running on two live hosts at once."""
    return sorted((vm, hosts) for vm, hosts in
                  live_guests(ledgers, live_hosts).items() if len(hosts) > 1)


def non_ha_moved(before, servers):
    """[text] for every non-HA VM whose host changed.  ``before``:
    {vm: host} of the non-HA VMs at the start."""
    found = []
    for vm, host in sorted(before.items()):
        now = (servers.get(vm) or {}).get('OS-EXT-SRV-ATTR:host')
        if now != host:
            found.append('non-HA VM %s moved from %s to %s' % (vm, host, now))
    return found


def reserved_intruders(servers, reserved_hosts, migrations):
    """[text] for VMs on a reserved host that did not come by evacuation."""
    evacuated_to = {(m['instance_uuid'], m['dest_compute'])
                    for m in migrations
                    if m['migration_type'] == recovery_invariants.EVACUATION
                    and m['status'] not in
                    recovery_invariants.FAILED_MIGRATION}
    found = []
    for vm, server in sorted(servers.items()):
        host = server.get('OS-EXT-SRV-ATTR:host')
        if host in reserved_hosts and (vm, host) not in evacuated_to:
            found.append('%s is on reserved host %s without a failover'
                         % (vm, host))
    return found
