"""The demo story, run on the in-process HA cloud.

Two failover segments, each with two ordinary hosts and one reserved host,
plus one host in no segment.  HA and non-HA VMs are booted through the real
Nova API and scheduler; the demo then shows where they landed and why the
reserved hosts stayed empty, and proves it by asking Nova to put a VM on a
reserved host (the scheduler refuses).
"""

import dataclasses

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers
from nova_ha.scheduler import policy
from nova_ha.scheduler.request import RequestFacts
from nova_ha.scheduler.request import RequestKind
from nova_ha.testing import cloud

# (name, HA?, priority)
DEMO_SERVERS = (
    ('db-primary', True, 100),
    ('db-replica', True, 50),
    ('app-1', True, 10),
    ('app-2', True, 10),
    ('cache', False, None),
    ('batch', False, None),
)


@dataclasses.dataclass
class DemoReport:
    segments: list = dataclasses.field(default_factory=list)
    servers: list = dataclasses.field(default_factory=list)
    reserved_hosts: list = dataclasses.field(default_factory=list)
    pinned_boot: dict = dataclasses.field(default_factory=dict)


class DemoCloud(cloud.HACloudTestCase):
    """The cloud; ``test_demo`` is the story (run through unittest so that
    Nova's fixtures are set up and torn down exactly as in the tests)."""

    # Room for many VMs per host, like a real hypervisor.
    compute_driver = 'fake.FakeDriver'
    say = staticmethod(lambda line: None)
    report = None

    def test_demo(self):
        type(self).report = run_story(self, self.say)


def host_views(cloud_case):
    """HostHAView per host, from the aggregates as Nova's API shows them."""
    aggs = cloud_case.admin_api.api_get('/os-aggregates').body['aggregates']
    views = {}
    for host in cloud_case.all_hosts():
        mine = [_Agg(a['name'], a['metadata'] or {})
                for a in aggs if host in a['hosts']]
        views[host] = ha_aggregates.host_view(mine)
    return views


@dataclasses.dataclass
class _Agg:
    name: str
    metadata: dict


def run_story(c, say):
    report = DemoReport()
    views = host_views(c)
    say('Cloud: %d compute hosts, real nova-api, conductor, scheduler and '
        'placement in one process.' % len(views))
    for seg in c.TOPOLOGY:
        report.segments.append({'name': seg.name, 'hosts': seg.hosts,
                                'reserved_hosts': seg.reserved_hosts})
        say('  segment %-6s ordinary hosts %-10s reserved failover host %s'
            % (seg.name, ','.join(seg.hosts), ','.join(seg.reserved_hosts)))
    say('  no segment     %s' % ','.join(c.UNSEGMENTED_HOSTS))
    say('')
    say('Booting VMs through the Nova API (the scheduler chooses hosts):')
    for name, ha, priority in DEMO_SERVERS:
        server = c.boot_server(name, ha=ha, priority=priority)
        host = c.host_of(server)
        policy_ = ha_servers.server_policy(server['metadata'])
        entry = {'name': name, 'id': server['id'], 'host': host,
                 'segment': views[host].segment_name,
                 'ha': policy_.enabled, 'priority': policy_.priority,
                 'status': server['status']}
        report.servers.append(entry)
        say('  %-11s %-6s priority %-4s -> %-6s (segment %s)' % (
            name, 'HA' if ha else 'non-HA',
            priority if priority is not None else '-', host,
            entry['segment'] or '-'))
    say('')
    say('Reserved hosts after the boots:')
    boot = RequestFacts(RequestKind.PLACEMENT)
    for host, view in sorted(views.items()):
        if not view.reserved:
            continue
        count = sum(1 for s in report.servers if s['host'] == host)
        verdict = policy.reserved_capacity(lambda: boot, view)
        report.reserved_hosts.append({
            'host': host, 'segment': view.segment_name, 'vms': count,
            'boot_verdict': verdict.reason})
        say('  %-8s %d VMs: HAReservedHostFilter says "%s"' % (
            host, count, verdict.reason))
    say('')
    target = next(h['host'] for h in report.reserved_hosts)
    say('Asking Nova to boot a VM onto %s explicitly (admin, --host):'
        % target)
    server = c.boot_server('pinned', ha=False, host=target,
                           expected_state='ERROR')
    fault = c.admin_api.get_server(server['id'])['fault']['message']
    report.pinned_boot = {'host': target, 'status': 'ERROR',
                          'fault': fault.strip()}
    say('  refused by the scheduler: %s' % fault.strip())
    return report
