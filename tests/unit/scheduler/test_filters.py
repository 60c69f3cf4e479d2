"""The filters and weigher as Nova's filter handler runs them.

Nova's HostState and RequestSpec objects are real; only the one database
read per request (RequestFacts) is replaced by a counting stand-in, because
these tests have no Nova database (the functional tests do).
"""

import fixtures
import testtools

from nova import objects
from nova.scheduler import filters as nova_filters
from nova.scheduler import weights as nova_weights
from nova.tests.unit.scheduler import fakes

from nova_ha.model import aggregates as agg
from nova_ha.scheduler import filters as ha_filters
from nova_ha.scheduler import request
from nova_ha.scheduler import weighers
from nova_ha.scheduler.request import RequestFacts
from nova_ha.scheduler.request import RequestKind

objects.register_all()


def aggregate(name, **metadata):
    return objects.Aggregate(name=name, metadata=metadata, hosts=[], id=1)


SEG_A = aggregate('seg-a', **{'ha:segment': 'A'})
SEG_B = aggregate('seg-b', **{'ha:segment': 'B'})
SPARES = aggregate('spares', **{'ha:reserved': 'true'})


def host_state(name, *aggregates):
    return fakes.FakeHostState(name, name, {'aggregates': list(aggregates)})


class CountingReader:
    def __init__(self, facts):
        self.facts = facts
        self.calls = 0

    def facts_for(self, spec_obj):
        self.calls += 1
        if isinstance(self.facts, Exception):
            raise self.facts
        return self.facts


class FilterTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.hosts = [host_state('a1', SEG_A), host_state('a2', SEG_A),
                      host_state('a-spare', SEG_A, SPARES),
                      host_state('b1', SEG_B),
                      host_state('b-spare', SEG_B, SPARES),
                      host_state('free1')]
        self.log = self.useFixture(fixtures.FakeLogger(
            level='DEBUG', name='nova_ha'))

    def use_facts(self, facts):
        reader = CountingReader(facts)
        self.useFixture(fixtures.MockPatchObject(request, 'reader', reader))
        return reader

    def spec(self):
        return objects.RequestSpec(instance_uuid='f' * 32 + '0' * 4,
                                   ignore_hosts=None, scheduler_hints={})

    def run_filters(self, spec):
        handler = nova_filters.HostFilterHandler()
        chosen = handler.get_filtered_objects(
            [ha_filters.HAReservedHostFilter(), ha_filters.HASegmentFilter()],
            self.hosts, spec)
        return [h.host for h in chosen]

    def failover_from_a1(self, method=None):
        seg = agg.Segment('A', agg.RecoveryMethod(method or 'rh_priority'))
        return RequestFacts(RequestKind.FAILOVER, 'u', 'a1',
                            agg.HostHAView(segment=seg))


class TestFilters(FilterTestCase):

    def test_boot_avoids_reserved_hosts(self):
        self.use_facts(RequestFacts(RequestKind.PLACEMENT, 'u'))
        self.assertEqual(['a1', 'a2', 'b1', 'free1'],
                         self.run_filters(self.spec()))

    def test_failover_stays_in_segment_and_may_use_its_spare(self):
        self.use_facts(self.failover_from_a1())
        self.assertEqual(['a1', 'a2', 'a-spare'],
                         self.run_filters(self.spec()))

    def test_facts_are_read_once_per_request(self):
        reader = self.use_facts(self.failover_from_a1())
        self.hosts = self.hosts * 50
        spec = self.spec()
        self.run_filters(spec)
        handler = nova_weights.HostWeightHandler()
        handler.get_weighed_objects([weighers.HAFailoverWeigher()],
                                    self.hosts, spec)
        self.assertEqual(1, reader.calls)
        # A new request reads again.
        self.run_filters(self.spec())
        self.assertEqual(2, reader.calls)

    def test_unreadable_request_is_logged_and_refused_safely(self):
        self.use_facts(RuntimeError('API database unreachable'))
        self.assertEqual(['free1'], self.run_filters(self.spec()))
        self.assertIn('could not tell what kind of request',
                      self.log.output)
        self.assertIn('API database unreachable', self.log.output)

    def test_rejections_are_logged_with_reasons(self):
        self.use_facts(RequestFacts(RequestKind.PLACEMENT, 'u'))
        self.run_filters(self.spec())
        self.assertIn('a-spare fails HAReservedHostFilter: reserved for '
                      'failovers; this request is a placement',
                      self.log.output)

    def test_bad_metadata_is_logged_once_per_host(self):
        bad = aggregate('seg-x', **{'ha:segment': 'X'})
        self.hosts = [host_state('ab', SEG_A, bad)] * 20
        self.use_facts(RequestFacts(RequestKind.PLACEMENT, 'u'))
        self.run_filters(self.spec())
        self.run_filters(self.spec())
        self.assertEqual(1, self.log.output.count(
            'host ab has bad HA aggregate metadata'))


class TestWeigher(FilterTestCase):

    def weigh(self, facts):
        self.use_facts(facts)
        handler = nova_weights.HostWeightHandler()
        hosts = [h for h in self.hosts if h.host in ('a2', 'a-spare')]
        weighed = handler.get_weighed_objects(
            [weighers.HAFailoverWeigher()], hosts, self.spec())
        return weighed[0].obj.host

    def test_rh_priority_weighs_spare_first(self):
        self.assertEqual('a-spare',
                         self.weigh(self.failover_from_a1('rh_priority')))

    def test_auto_priority_weighs_ordinary_first(self):
        self.assertEqual('a2',
                         self.weigh(self.failover_from_a1('auto_priority')))
