"""The demo story, run on the in-process HA cloud.

Two failover segments, each with two ordinary hosts and one reserved host,
plus one host in no segment.  HA and non-HA VMs are booted through the real
Nova API and scheduler; the demo then shows where they landed and why the
reserved hosts stayed empty, and proves it by asking Nova to put a VM on a
reserved host (the scheduler refuses).
"""

import dataclasses
import time

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers
from nova_ha.scheduler import policy
from nova_ha.scheduler.request import RequestFacts
from nova_ha.scheduler.request import RequestKind
from nova_ha.notifier import events

from nova_ha_testbed import cloud
from nova_ha_testbed import engine as engine_harness

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
    failure: dict = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)


class DemoCloud(cloud.HACloudTestCase):
    """The cloud; ``test_demo`` is the story (run through unittest so that
    Nova's fixtures are set up and torn down exactly as in the tests)."""

    # Room for many VMs per host, like a real hypervisor.
    compute_driver = 'fake.FakeDriver'
    say = staticmethod(lambda line: None)
    report = None

    def test_demo(self):
        report = run_story(self, self.say)
        run_failure(self, self.say, report)
        type(self).report = report


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


def run_failure(c, say, report):
    """Kill the hypervisor running the most important VM of a failover
    segment (the scheduler may put a VM on the unsegmented host, which has
    no segment to fail over to); watch nova-ha."""
    victim = next((s['host'] for s in report.servers
                   if s['ha'] and s['segment']), report.servers[0]['host'])
    on_victim = [s for s in report.servers if s['host'] == victim]
    say('')
    say('Starting nova-ha-engine (oslo.messaging fake://, tooz file locks, '
        'SQLite history; BMCs are simulated in the demo).')
    harness = engine_harness.EngineHarness(
        c, engine_harness.production_like_settings())
    c.addCleanup(harness.stop)
    say('Killing hypervisor %s (it runs %s).' % (
        victim, ', '.join(s['name'] for s in on_victim)))
    harness.kill_host(victim)     # its BMC now reports power off
    started = time.monotonic()
    harness.publish(events.HOST_DOWN, victim, source='demo-monitor')
    printed = 0

    def show_new():
        nonlocal printed
        records = harness.history.query()
        for r in records[printed:]:
            say('  +%5.2fs %-15s %s' % (time.monotonic() - started, r.kind,
                                        r.message))
        printed = len(records)

    def settled():
        show_new()
        incidents = harness.history.list_incidents(host=victim)
        return incidents and not any(i.is_open for i in incidents)

    c.wait_for(settled, timeout=300, interval=0.2, what='the recovery')
    harness.wait_idle()
    show_new()
    elapsed = time.monotonic() - started
    say('')
    say('After the failure (%.1f s from the report to the end of the '
        'recovery):' % elapsed)
    moved = []
    for entry in on_victim:
        server = c.admin_api.get_server(entry['id'])
        host = server['OS-EXT-SRV-ATTR:host']
        moved.append({'name': entry['name'], 'ha': entry['ha'],
                      'from': victim, 'host': host,
                      'status': server['status']})
        if host == victim:
            say('  %-11s %-6s stays on %s, which is powered off (not HA)' % (
                entry['name'], 'HA' if entry['ha'] else 'non-HA', victim))
        else:
            say('  %-11s %-6s %s -> %s, %s' % (
                entry['name'], 'HA' if entry['ha'] else 'non-HA', victim,
                host, server['status']))
    report.failure = {'host': victim, 'seconds': round(elapsed, 2),
                      'servers': moved}
    report.history = [r.to_dict() for r in harness.history.query()]
