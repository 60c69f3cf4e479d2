"""What maintenance asks of Nova: the maintenance aggregate and VM moves."""

from openstack import exceptions as sdk_exc

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import nova as ha_nova
from nova_ha.tagging import nova as tagging_nova


class MaintenanceNova(tagging_nova.OperatorNova):

    # -- the mark ----------------------------------------------------------

    def maintenance_aggregate(self, name, create=False):
        """The aggregate ``name`` with ``ha:maintenance=true`` set (None if
        it does not exist and ``create`` is false).  Two operators creating
        it at once is fine: Nova refuses the second name with 409 and the
        aggregate is read again."""
        aggregate = self._named_aggregate(name)
        if aggregate is None and create:
            try:
                self.compute.create_aggregate(name=name)
            except sdk_exc.ConflictException:
                pass
            aggregate = self._named_aggregate(name)
        if aggregate is None:
            return None
        if aggregate.metadata.get(ha_aggregates.MAINTENANCE_KEY) != 'true':
            self.set_aggregate_metadata(
                aggregate.id, {ha_aggregates.MAINTENANCE_KEY: 'true'})
        return aggregate

    def _named_aggregate(self, name):
        for aggregate in self.aggregates():
            if aggregate.name == name:
                return aggregate
        return None

    def add_host_to_aggregate(self, aggregate_id, host):
        self._call('add %s to aggregate %s' % (host, aggregate_id),
                   self.compute.add_host_to_aggregate, aggregate_id, host)

    # -- moves -------------------------------------------------------------

    def live_migrate(self, server_id):
        """Live-migrate to a host the scheduler chooses (HASegmentFilter
        keeps it inside the segment); block migration when the storage
        needs it."""
        self._call('live-migrate %s' % server_id,
                   self.compute.live_migrate_server, server_id, host=None,
                   block_migration='auto')

    def cold_migrate(self, server_id):
        self._call('cold-migrate %s' % server_id,
                   self.compute.migrate_server, server_id)

    def confirm_migration(self, server_id):
        self._call('confirm the migration of %s' % server_id,
                   self.compute.confirm_server_resize, server_id)

    def server_or_none(self, server_id):
        try:
            return self.server(server_id)
        except ha_nova.NovaError as e:
            if e.status == 404:
                return None
            raise

    def awaiting_confirmation(self, host):
        """Servers cold-migrated off ``host`` whose migration waits for a
        confirmation (status VERIFY_RESIZE on their new host)."""
        migrations = self._call(
            'list migrations from %s' % host, lambda: list(
                self.compute.migrations(source_compute=host,
                                        status='finished',
                                        migration_type='migration')))
        servers = []
        for server_id in sorted({m.server_id for m in migrations}):
            server = self.server_or_none(server_id)
            if server is not None and server['status'] == 'VERIFY_RESIZE':
                servers.append(server)
        return servers

    def move_failure_detail(self, server_id):
        """Why Nova's last action on the server failed, from its instance
        action events (their ``details`` since microversion 2.84), or ''."""
        try:
            actions = list(self.compute.server_actions(server_id))
            if not actions:
                return ''
            newest = max(actions, key=lambda a: a.start_time or '')
            action = self.compute.get_server_action(newest.request_id,
                                                    server_id)
        except sdk_exc.SDKException:
            return ''
        failed = [e for e in action.events or ()
                  if (_field(e, 'result') or '').lower() == 'error']
        return '; '.join('%s: %s' % (_field(e, 'event'),
                                     _field(e, 'details') or 'error')
                         for e in failed)


def _field(event, name):
    if isinstance(event, dict):
        return event.get(name)
    return getattr(event, name, None)
