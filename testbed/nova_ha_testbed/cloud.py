"""An in-process HA cloud on Nova's own functional test framework.

Real nova-api (through wsgi-intercept), conductor, scheduler, placement and
several nova-compute services with the fake virt driver, all in one process,
with the failover segments of an operator's cloud declared as host
aggregates and nova-ha's scheduler plugins enabled through nova.conf options
exactly as an operator would set them.  Used by tests/functional and by the
demo (``nova-ha-demo``).

Import this module before any other Nova module: Nova's functional package
selects its concurrency mode (eventlet or native threads) on import.
"""

from nova.tests import functional  # noqa: F401  (must come first)

import dataclasses
import importlib
import os
import sys
import time

import fixtures
from nova.tests.functional import integrated_helpers

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers

# What an operator adds to [filter_scheduler] (see README).
NOVA_FILTERS = [
    'ComputeFilter',
    'ComputeCapabilitiesFilter',
    'ImagePropertiesFilter',
    'ServerGroupAntiAffinityFilter',
    'ServerGroupAffinityFilter',
]
HA_FILTERS = ['HAReservedHostFilter', 'HASegmentFilter']
HA_WEIGHER = 'nova_ha.scheduler.weighers.HAFailoverWeigher'


@dataclasses.dataclass
class SegmentSpec:
    """One failover segment of the test cloud."""

    name: str
    hosts: list
    reserved_hosts: list = dataclasses.field(default_factory=list)
    # Extra aggregate metadata of the segment (ha:recovery_method, ...).
    metadata: dict = dataclasses.field(default_factory=dict)


DEFAULT_TOPOLOGY = (
    SegmentSpec('seg-a', ['a1', 'a2'], ['a-spare']),
    SegmentSpec('seg-b', ['b1', 'b2'], ['b-spare']),
)


def nova_api_paste_ini():
    """Where the installed nova wheel put api-paste.ini.

    Nova's test ConfFixture looks for it beside the nova package, but a wheel
    installs it under the environment's etc/nova/.
    """
    candidates = [os.path.join(sys.prefix, 'etc', 'nova', 'api-paste.ini')]
    import nova
    candidates.append(os.path.join(
        os.path.dirname(os.path.dirname(nova.__file__)),
        'etc', 'nova', 'api-paste.ini'))
    for path in candidates:
        if os.path.exists(path):
            return path
    raise RuntimeError('api-paste.ini of the nova package not found in %s'
                       % candidates)


# The module itself (the package nova.tests.fixtures re-exports its
# names, and its attribute ``nova`` is not this module).
_NOVA_FIXTURES = importlib.import_module('nova.tests.fixtures.nova')


class ReaderFirstCellLock(_NOVA_FIXTURES.ReaderWriterLock):
    """The cell lock of Nova's CellDatabases fixture, letting readers in
    while a writer waits.

    Stand-in fix for a deadlock of Nova 34's functional fixtures under
    native threads, seen here when many VMs are booted at once (py-spy
    dump of a stalled bench):

    * the conductor creates an instance inside target_cell: it holds the
      cell lock as a reader and waits for the database's write lock
      (DatabaseWriteLock);
    * a service heartbeat holds that write lock, and its nested read asks
      the cell lock for a read;
    * another conductor thread waits for the cell lock as a writer, and
      the fixture's lock makes new readers wait behind a waiting writer.

    The waiting writer blocks the heartbeat, the heartbeat blocks the
    instance creation, and the instance creation blocks the writer.  A
    reader that enters past a waiting writer breaks the cycle.  The
    writer then waits until no reader is left, which comes soon, because
    every reader here is brief.
    """

    @property
    def has_pending_writers(self):
        return False


class HACloudTestCase(integrated_helpers.ProviderUsageBaseTestCase):
    """Base for functional tests: a cloud with failover segments.

    Subclasses may override TOPOLOGY, UNSEGMENTED_HOSTS, ENABLE_HA_FILTERS
    and compute_driver before setUp runs.
    """

    compute_driver = 'fake.MediumFakeDriver'
    microversion = 'latest'
    TOPOLOGY = DEFAULT_TOPOLOGY
    UNSEGMENTED_HOSTS = ('free1',)
    ENABLE_HA_FILTERS = True
    # The aggregate holding every reserved host; reservation is a property
    # of the host, segment membership says which segment it serves.
    RESERVED_AGGREGATE = 'ha-reserved'

    def setUp(self):
        self.useFixture(fixtures.MockPatchObject(
            _NOVA_FIXTURES, 'ReaderWriterLock', ReaderFirstCellLock))
        self.flags(api_paste_config=nova_api_paste_ini(), group='wsgi')
        # The fake drivers have room for far more VMs than default quotas.
        self.flags(instances=-1, cores=-1, ram=-1, group='quota')
        self._configure_scheduler()
        super().setUp()
        self.aggregates = {}
        self._build_topology()

    def _clear_attrs(self):
        # Nova drops every public attribute at cleanup to free memory;
        # pytest has set the test method as one and deletes it afterwards.
        method = self.__dict__.pop(self._testMethodName, None)
        super()._clear_attrs()
        if method is not None:
            self.__dict__[self._testMethodName] = method

    # -- configuration an operator writes into nova.conf --------------------

    def _configure_scheduler(self):
        if not self.ENABLE_HA_FILTERS:
            self.flags(enabled_filters=NOVA_FILTERS, group='filter_scheduler')
            return
        self.flags(available_filters=[
            'nova.scheduler.filters.all_filters',
            'nova_ha.scheduler.filters.all_filters'],
            group='filter_scheduler')
        self.flags(enabled_filters=NOVA_FILTERS + HA_FILTERS,
                   group='filter_scheduler')
        self.flags(weight_classes=['nova.scheduler.weights.all_weighers',
                                   HA_WEIGHER],
                   group='filter_scheduler')

    # -- the cloud --------------------------------------------------------

    def _build_topology(self):
        for host in self.all_hosts():
            self._start_compute(host)
        reserved = []
        for seg in self.TOPOLOGY:
            metadata = {ha_aggregates.SEGMENT_KEY: seg.name}
            metadata.update(seg.metadata)
            self.create_aggregate(seg.name, seg.hosts + seg.reserved_hosts,
                                  metadata)
            reserved.extend(seg.reserved_hosts)
        if reserved:
            self.create_aggregate(self.RESERVED_AGGREGATE, reserved,
                                  {ha_aggregates.RESERVED_KEY: 'true'})

    def all_hosts(self):
        hosts = []
        for seg in self.TOPOLOGY:
            hosts.extend(seg.hosts + seg.reserved_hosts)
        return hosts + list(self.UNSEGMENTED_HOSTS)

    def create_aggregate(self, name, hosts, metadata):
        agg_id = self.admin_api.post_aggregate({'aggregate': {'name': name}})[
            'id']
        for host in hosts:
            self.admin_api.add_host_to_aggregate(agg_id, host)
        if metadata:
            self.set_aggregate_metadata(agg_id, metadata)
        self.aggregates[name] = agg_id
        return agg_id

    def set_aggregate_metadata(self, agg_id, metadata):
        self.admin_api.post_aggregate_action(
            agg_id, {'set_metadata': {'metadata': metadata}})

    def admin_headers(self):
        """What Nova's keystone stub (and placement's noauth) read as the
        caller: this cloud's admin."""
        project = self.api_fixture.project_id
        return {'X-Auth-User': 'admin', 'X-User-Id': 'admin',
                'X-Auth-Project-Id': project, 'X-Project-Id': project,
                'X-Auth-Token': 'admin', 'X-Roles': 'reader,member,admin'}

    def sdk_connection(self):
        """An openstacksdk Connection to the in-process nova-api as admin.

        The API runs behind wsgi-intercept with Nova's keystone stub, which
        reads the caller from X-Auth-* headers instead of a token.  The
        in-process placement is reachable too (``conn.placement``): its
        noauth middleware takes the caller from ``X-Auth-Token``.
        """
        from keystoneauth1 import noauth
        from keystoneauth1 import session as ks_session
        import openstack.connection

        session = ks_session.Session(
            auth=noauth.NoAuth(),
            additional_headers=self.admin_headers())
        return openstack.connection.Connection(
            session=session,
            compute_endpoint_override=self.api_fixture.base_url,
            compute_api_version='2',
            placement_endpoint_override=self.placement.fixture.endpoint)

    # -- servers ----------------------------------------------------------

    def boot_server(self, name, ha=True, priority=None, host=None,
                    flavor_id=None, expected_state='ACTIVE', extra_md=None):
        """Boot a server, HA-tagged unless ``ha`` is False; wait for it
        to reach ``expected_state`` unless that is None."""
        metadata = dict(extra_md or {})
        if ha:
            metadata[ha_servers.ENABLED_KEY] = 'true'
        if priority is not None:
            metadata[ha_servers.PRIORITY_KEY] = str(priority)
        body = self._build_server(name=name, flavor_id=flavor_id,
                                  networks='none', host=host)
        if metadata:
            body['metadata'] = metadata
        server = self.admin_api.post_server({'server': body})
        if expected_state is None:      # the caller waits (many at once)
            return server
        return self._wait_for_state_change(server, expected_state)

    def host_of(self, server):
        return self.admin_api.get_server(server['id'])[
            'OS-EXT-SRV-ATTR:host']

    def fail_host(self, host):
        """A hypervisor dies: its nova-compute stops and Nova is told.

        Forcing the service down is what nova-ha's engine does after fencing;
        here it stands in for both (the engine has its own tests).
        """
        self.computes[host].stop()
        service_id = self.admin_api.get_services(
            host=host, binary='nova-compute')[0]['id']
        self.admin_api.put_service(service_id, {'forced_down': 'true'})

    def evacuate(self, server, expected_state='ACTIVE'):
        """Evacuate without a target host: the scheduler chooses."""
        self.admin_api.post_server_action(server['id'], {'evacuate': {}})
        self._wait_for_migration_status(server, ['done', 'error'])
        return self.admin_api.get_server(server['id'])

    def wait_for(self, predicate, timeout=30.0, interval=0.05, what=None):
        """Wait on state, not on time: poll ``predicate`` until truthy."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError('timed out after %.1fs waiting for %s'
                                     % (timeout, what or predicate))
            time.sleep(interval)
