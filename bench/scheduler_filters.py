"""Cost of nova-ha's filters in one scheduling pass of Nova's filter handler.

For 1,000 and 10,000 hosts, times Nova's HostFilterHandler running Nova's
default filter list, then the same list plus HAReservedHostFilter and
HASegmentFilter, alternating the two in the same process, and prints the
median pass time of each and their ratio (target: <= 1.05 at 10,000 hosts).

Hosts are Nova's own HostState objects (the unit-test subclass that sets
attributes directly), up and enabled, grouped into failover segments of 20
hosts with one reserved host each, like a large HA cloud.  Two requests are
measured: a boot (what a scheduler does all day) and a failover.

The one database read per request that tells a boot from a failover
(nova_ha.scheduler.request) is replaced by precomputed facts: it happens
once per request whatever the number of hosts, so it is not part of the
per-host cost measured here.

Run: .venv/bin/python bench/scheduler_filters.py [--hosts 1000 10000]
"""

import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

import nova.tests.functional  # noqa: E402,F401  (Nova's test mode first)

import argparse  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

from nova import conf as nova_conf  # noqa: E402
from nova import objects  # noqa: E402
from nova.scheduler import filters as nova_filters  # noqa: E402
from nova.tests.unit.scheduler import fakes  # noqa: E402
from oslo_utils import timeutils  # noqa: E402

from nova_ha.model import aggregates as ha_aggregates  # noqa: E402
from nova_ha.scheduler import filters as ha_filters  # noqa: E402
from nova_ha.scheduler import request as ha_request  # noqa: E402

SEGMENT_SIZE = 20


def build_hosts(count):
    reserved = objects.Aggregate(id=0, name='ha-reserved', hosts=[],
                                 metadata={ha_aggregates.RESERVED_KEY: 'true'})
    az = objects.Aggregate(id=1, name='az1', hosts=[],
                           metadata={'availability_zone': 'az1'})
    hosts = []
    segment = None
    now = timeutils.utcnow()
    for i in range(count):
        if i % SEGMENT_SIZE == 0:
            segment = objects.Aggregate(
                id=i + 2, name='seg-%d' % i, hosts=[],
                metadata={ha_aggregates.SEGMENT_KEY: 'seg-%d' % i,
                          ha_aggregates.RECOVERY_METHOD_KEY: 'rh_priority'})
        aggs = [az, segment]
        if i % SEGMENT_SIZE == SEGMENT_SIZE - 1:
            aggs.append(reserved)
        hosts.append(fakes.FakeHostState('host%d' % i, 'node%d' % i, {
            'aggregates': aggs,
            'service': {'disabled': False, 'updated_at': now,
                        'created_at': now, 'last_seen_up': now,
                        'forced_down': False},
            'supported_instances': [('x86_64', 'kvm', 'hvm')],
            'hypervisor_type': 'QEMU', 'hypervisor_version': 9000000,
            'free_ram_mb': 65536, 'free_disk_mb': 10 ** 7,
            'vcpus_total': 64, 'vcpus_used': 0,
        }))
    return hosts


def build_spec():
    return objects.RequestSpec(
        instance_uuid='00000000-0000-0000-0000-000000000001',
        flavor=objects.Flavor(memory_mb=512, vcpus=1, root_gb=1,
                              ephemeral_gb=0, swap=0, extra_specs={}),
        image=objects.ImageMeta.from_dict({'properties': {}}),
        ignore_hosts=None, force_hosts=None, force_nodes=None,
        scheduler_hints={}, instance_group=None, retry=None)


class FixedFacts:
    """Stands in for the single per-request database read (see docstring)."""

    def __init__(self, facts):
        self.facts = facts

    def facts_for(self, spec_obj):
        return self.facts


def one_pass(handler, filter_list, hosts, spec):
    spec.__dict__.pop(ha_request._MEMO_ATTR, None)
    start = time.perf_counter()
    result = handler.get_filtered_objects(filter_list, hosts, spec)
    elapsed = time.perf_counter() - start
    return elapsed, len(result)


def measure(hosts, facts, rounds):
    ha_request.reader = FixedFacts(facts)
    handler = nova_filters.HostFilterHandler()
    classes = handler.get_matching_classes(
        ['nova.scheduler.filters.all_filters'])
    by_name = {cls.__name__: cls for cls in classes}
    nova_list = [by_name[name]() for name in
                 nova_conf.CONF.filter_scheduler.enabled_filters]
    ha_list = nova_list + [ha_filters.HAReservedHostFilter(),
                           ha_filters.HASegmentFilter()]
    spec = build_spec()
    base, with_ha = [], []
    kept = {}
    gc.disable()
    try:
        for _ in range(2):   # warm-up
            one_pass(handler, nova_list, hosts, spec)
            one_pass(handler, ha_list, hosts, spec)
        for _ in range(rounds):
            t, kept['nova'] = one_pass(handler, nova_list, hosts, spec)
            base.append(t)
            t, kept['ha'] = one_pass(handler, ha_list, hosts, spec)
            with_ha.append(t)
    finally:
        gc.enable()
    return statistics.median(base), statistics.median(with_ha), kept


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=int, nargs='+',
                        default=[1000, 10000])
    parser.add_argument('--rounds', type=int, default=0,
                        help='passes per variant (default: by host count)')
    args = parser.parse_args()
    # Nova's filters log per host at DEBUG; production runs at INFO.
    logging.basicConfig(level=logging.WARNING)
    objects.register_all()
    nova_conf.CONF([], project='nova')

    print('Nova default filters: %s' % ', '.join(
        nova_conf.CONF.filter_scheduler.enabled_filters))
    print('%-8s %-9s %12s %14s %7s %s' % (
        'hosts', 'request', 'nova ms', 'nova+ha ms', 'ratio', 'hosts kept'))
    for count in args.hosts:
        hosts = build_hosts(count)
        rounds = args.rounds or max(5, 200000 // count)
        failed = hosts[0]
        seg = ha_aggregates.host_view(failed.aggregates)
        requests = {
            'boot': ha_request.RequestFacts(
                ha_request.RequestKind.PLACEMENT, 'u'),
            'failover': ha_request.RequestFacts(
                ha_request.RequestKind.FAILOVER, 'u', failed.host, seg),
        }
        for name, facts in requests.items():
            base, with_ha, kept = measure(hosts, facts, rounds)
            print('%-8d %-9s %12.2f %14.2f %7.3f %s -> %s' % (
                count, name, base * 1000, with_ha * 1000, with_ha / base,
                kept['nova'], kept['ha']))


if __name__ == '__main__':
    main()
