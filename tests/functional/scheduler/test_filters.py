"""nova-ha's filters and weigher inside Nova's real scheduler.

Each test drives the real nova-api, conductor, scheduler and placement with
fake-driver computes (nova_ha_testbed.cloud).  Capacity is made scarce on
purpose (whole-host flavors, disabled services) so that the outcome can only
come from our plugins: with Nova's filters alone, every one of these
requests would succeed somewhere else.

Default cloud: seg-a = a1, a2 + reserved a-spare; seg-b = b1, b2 + reserved
b-spare; free1 in no segment.
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

from nova_ha.model import aggregates as ha_aggregates

RESERVED = ('a-spare', 'b-spare')


class FilterTestBase(cloud.HACloudTestCase):

    def setUp(self):
        super().setUp()
        # One VM of this flavor fills a MediumFakeDriver host (8192 MB less
        # Nova's reserved_host_memory_mb of 512).
        self.whole_host = self._create_flavor(
            name='whole-host', memory_mb=7500, vcpu=1, disk=1, ephemeral=0)
        self.small = self._create_flavor(
            name='small', memory_mb=512, vcpu=1, disk=1, ephemeral=0)

    def disable(self, *hosts):
        for host in hosts:
            service = self.admin_api.get_services(
                host=host, binary='nova-compute')[0]
            self.admin_api.put_service(service['id'], {'status': 'disabled'})

    def fill(self, *hosts):
        for host in hosts:
            self.boot_server('filler-' + host, ha=False, host=host,
                             flavor_id=self.whole_host)

    def assert_no_valid_host(self, server):
        server = self.admin_api.get_server(server['id'])
        self.assertEqual('ERROR', server['status'])
        self.assertIn('No valid host', server['fault']['message'])


class TestReservedHostsAreKeptFree(FilterTestBase):

    def test_boots_never_use_reserved_hosts(self):
        servers = [self.boot_server('vm%d' % i, flavor_id=self.small)
                   for i in range(10)]
        used = {self.host_of(s) for s in servers}
        self.assertFalse(used & set(RESERVED), used)

    def test_boot_fails_when_only_reserved_hosts_have_room(self):
        self.fill('a1', 'a2', 'b1', 'b2', 'free1')
        server = self.boot_server('late', flavor_id=self.small,
                                  expected_state='ERROR')
        self.assert_no_valid_host(server)

    def test_boot_requested_onto_reserved_host_is_refused(self):
        # An admin naming the reserved host (2.74 "host") still goes
        # through the scheduler, and the filter says no.
        server = self.boot_server('pinned', host='a-spare',
                                  expected_state='ERROR')
        self.assert_no_valid_host(server)
        self.assertIn('HAReservedHostFilter', self.stdlog.logger.output)

    def test_cold_migration_and_resize_never_use_reserved_hosts(self):
        server = self.boot_server('vm', host='a1', flavor_id=self.small)
        # a2 is the only other ordinary host of seg-a; with it disabled the
        # segment's spare is the only host of seg-a with room.
        self.disable('a2')
        self.admin_api.post_server_action(server['id'], {'migrate': None})
        self._wait_for_migration_status(server, ['error'])
        self.assertEqual('a1', self.host_of(server))
        # Nova clears the failed migration's task state just after marking
        # it failed; a resize asked before that is refused (409).
        self._wait_for_server_parameter(
            server, {'OS-EXT-STS:task_state': None})

        self.admin_api.post_server_action(
            server['id'], {'resize': {'flavorRef': self.whole_host}})
        self._wait_for_migration_status(server, ['error'])
        self.assertEqual('a1', self.host_of(server))

    def test_live_migration_never_uses_reserved_hosts(self):
        server = self.boot_server('vm', host='a1', flavor_id=self.small)
        self.disable('a2')
        self.admin_api.post_server_action(
            server['id'], {'os-migrateLive': {'host': None,
                                              'block_migration': 'auto'}})
        self._wait_for_migration_status(server, ['error'])
        self.assertEqual('a1', self.host_of(server))

    def test_migration_inside_segment_still_works(self):
        server = self.boot_server('vm', host='a1', flavor_id=self.small)
        self.admin_api.post_server_action(server['id'], {'migrate': None})
        self._wait_for_state_change(server, 'VERIFY_RESIZE')
        self.assertEqual('a2', self.host_of(server))

    def test_unshelve_never_uses_reserved_hosts(self):
        server = self.boot_server('vm', host='a1', flavor_id=self.whole_host)
        self._shelve_server(server)
        # Every ordinary host is full (a1's VM is offloaded, so fill a1 too).
        self.fill('a1', 'a2', 'b1', 'b2', 'free1')
        self.admin_api.post_server_action(server['id'], {'unshelve': None})
        self._wait_for_instance_action_event(
            server, 'unshelve', 'schedule_instances', 'Error')
        server = self.admin_api.get_server(server['id'])
        self.assertEqual('SHELVED_OFFLOADED', server['status'])


class TestFailoverStaysInSegment(FilterTestBase):

    def test_evacuation_uses_own_segment_reserved_host_when_ordinary_full(
            self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.fill('a2')
        self.fail_host('a1')
        server = self.evacuate(server)
        # b1, b2, b-spare and free1 all have room: only the segment filter
        # keeps the VM in seg-a, and only the failover exception lets it
        # onto seg-a's reserved host.
        self.assertEqual('a-spare', self.host_of(server))

    def test_evacuation_fails_rather_than_leave_segment(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.fill('a2')
        self.disable('a-spare')  # reserved hosts refuse fillers: disable it
        self.fail_host('a1')
        server = self.evacuate(server)
        self.assertEqual('a1', self.host_of(server))
        self.assertEqual('error', self.admin_api.get_migrations(
            )[0]['status'])

    def test_evacuation_from_unsegmented_host_avoids_reserved_hosts(self):
        server = self.boot_server('pet', host='free1', flavor_id=self.small)
        self.disable('a1', 'a2', 'b1', 'b2')
        self.fail_host('free1')
        server = self.evacuate(server)
        # Only the two reserved hosts were enabled, and they serve seg-a and
        # seg-b, not a VM from outside any segment.
        self.assertEqual('free1', self.host_of(server))


class TestRecoveryMethods(FilterTestBase):
    """The segment's ha:recovery_method orders and bounds the targets."""

    def _evacuate_from_a1_with_method(self, method):
        self.set_aggregate_metadata(
            self.aggregates['seg-a'],
            {ha_aggregates.RECOVERY_METHOD_KEY: method})
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.fail_host('a1')
        return self.evacuate(server)

    def test_rh_priority_prefers_reserved_host(self):
        server = self._evacuate_from_a1_with_method('rh_priority')
        self.assertEqual('a-spare', self.host_of(server))

    def test_auto_priority_prefers_ordinary_host(self):
        server = self._evacuate_from_a1_with_method('auto_priority')
        self.assertEqual('a2', self.host_of(server))

    def test_auto_never_uses_reserved_host(self):
        self.fill('a2')
        server = self._evacuate_from_a1_with_method('auto')
        self.assertEqual('a1', self.host_of(server))

    def test_reserved_host_method_never_uses_ordinary_host(self):
        self.disable('a-spare')
        server = self._evacuate_from_a1_with_method('reserved_host')
        self.assertEqual('a1', self.host_of(server))

    def test_unknown_method_is_logged_and_treated_as_rh_priority(self):
        server = self._evacuate_from_a1_with_method('fastest')
        self.assertEqual('a-spare', self.host_of(server))
        self.assertIn("ha:recovery_method='fastest' is not one of",
                      self.stdlog.logger.output)


class TestBadMetadata(FilterTestBase):

    def test_host_in_two_segments_is_reported_and_never_failed_over(self):
        # An operator mistake: a1 is also put into seg-b.
        self.admin_api.add_host_to_aggregate(self.aggregates['seg-b'], 'a1')
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.fail_host('a1')
        server = self.evacuate(server)
        # Its storage boundary is unknown: refusing keeps its disks safe.
        self.assertEqual('a1', self.host_of(server))
        self.assertIn('host is in 2 segments (seg-a, seg-b)',
                      self.stdlog.logger.output)

    def test_malformed_reserved_mark_still_protects_the_host(self):
        self.set_aggregate_metadata(self.aggregates[self.RESERVED_AGGREGATE],
                                    {ha_aggregates.RESERVED_KEY: 'yes please'})
        server = self.boot_server('pinned', host='a-spare',
                                  expected_state='ERROR')
        self.assert_no_valid_host(server)
        self.assertIn("ha:reserved='yes please' is not a boolean",
                      self.stdlog.logger.output)


class TestUnsegmentedCloud(FilterTestBase):
    """With no HA metadata at all, the filters change nothing."""

    TOPOLOGY = ()
    UNSEGMENTED_HOSTS = ('h1', 'h2')

    def test_boot_migrate_evacuate_behave_as_plain_nova(self):
        server = self.boot_server('vm', host='h1', flavor_id=self.small)
        self.admin_api.post_server_action(server['id'], {'migrate': None})
        self._wait_for_state_change(server, 'VERIFY_RESIZE')
        self.assertEqual('h2', self.host_of(server))
        self.admin_api.post_server_action(server['id'],
                                          {'confirmResize': None})
        self._wait_for_state_change(server, 'ACTIVE')
        self.fail_host('h2')
        server = self.evacuate(server)
        self.assertEqual('h1', self.host_of(server))
        # Since microversion 2.95 Nova leaves an evacuated VM stopped.
        self.assertEqual('SHUTOFF', server['status'])
