"""Nova's REST API as the engine needs it, through openstacksdk.

Everything returns plain dicts so the engine and its tests do not depend on
SDK resource classes.  Errors become NovaError with the HTTP status, so the
engine can tell "conflict, retry later" (409) from "refused" (400).
"""

import dataclasses

from openstack import exceptions as sdk_exc
from oslo_log import log as logging

LOG = logging.getLogger(__name__)

COMPUTE_BINARY = 'nova-compute'
# Nova's instance actions that stop a server or bring it back up.
POWER_ACTIONS = ('stop', 'start', 'reboot', 'rebuild', 'evacuate', 'resume',
                 'unshelve', 'restore')
# Since 2.95 Nova leaves an evacuated VM stopped.
KEEP_RUNNING_MICROVERSION = '2.94'


class NovaError(Exception):
    def __init__(self, action, error):
        self.status = getattr(error, 'status_code', None)
        detail = getattr(error, 'details', None) or str(error)
        super().__init__('%s failed (HTTP %s): %s' % (action, self.status,
                                                      detail))


@dataclasses.dataclass(frozen=True)
class Aggregate:
    id: str
    name: str
    hosts: tuple
    metadata: dict


def _server_dict(server):
    return {'id': server.id, 'name': server.name, 'status': server.status,
            'task_state': server.task_state, 'vm_state': server.vm_state,
            'host': server.compute_host,
            'metadata': dict(server.metadata or {})}


def _service_dict(service):
    return {'id': service.id, 'host': service.host, 'status': service.status,
            'state': service.state, 'forced_down': service.is_forced_down,
            'disabled_reason': service.disabled_reason,
            'updated_at': service.updated_at}


class NovaGateway:

    def __init__(self, connection):
        self.conn = connection
        self.compute = connection.compute

    @classmethod
    def from_cloud(cls, cloud_name, timeout=None):
        """Connect with a clouds.yaml entry (admin credentials); every
        call to Nova gives up after ``timeout`` seconds."""
        import openstack
        options = {'api_timeout': timeout} if timeout else {}
        return cls(openstack.connect(cloud=cloud_name, **options))

    def _call(self, action, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except sdk_exc.SDKException as e:
            raise NovaError(action, e) from e

    # -- the compute service --------------------------------------------

    def service(self, host):
        services = self._call(
            'list services', lambda: list(self.compute.services(
                host=host, binary=COMPUTE_BINARY)))
        if not services:
            return None
        return _service_dict(services[0])

    def compute_services(self):
        services = self._call('list services', lambda: list(
            self.compute.services(binary=COMPUTE_BINARY)))
        return [_service_dict(s) for s in services]

    def force_down(self, host, forced=True, service_id=None):
        """Mark ``host``'s nova-compute (forced) down.  With its
        ``service_id`` (microversion 2.53+) this is one call; without, the
        service is looked up by host first."""
        self._call('force-down %s' % host,
                   self.compute.update_service_forced_down, service_id,
                   host=host, binary=COMPUTE_BINARY, forced=forced)

    def disable(self, host, reason):
        self._call('disable %s' % host, self.compute.disable_service, None,
                   host=host, binary=COMPUTE_BINARY, disabled_reason=reason)

    def enable(self, host):
        self._call('enable %s' % host, self.compute.enable_service, None,
                   host=host, binary=COMPUTE_BINARY)

    # -- servers ----------------------------------------------------------

    def servers_on(self, host, changes_since=None):
        """The servers on ``host``; with ``changes_since`` (ISO 8601) only
        those changed since then, deleted ones included (status DELETED)."""
        return self._servers('list servers on %s' % host, changes_since,
                             compute_host=host)

    def all_servers(self, changes_since=None):
        """Every server of every project, as ``servers_on`` lists them."""
        return self._servers('list servers', changes_since)

    def _servers(self, action, changes_since, **filters):
        if changes_since:
            filters['changes_since'] = changes_since
        return self._call(action, lambda: [
            _server_dict(s) for s in self.compute.servers(
                details=True, all_projects=True, **filters)])

    def server(self, server_id):
        return _server_dict(self._call('show server %s' % server_id,
                                       self.compute.get_server, server_id))

    def evacuate(self, server_id, keep_running=False):
        """Evacuate without a target: the scheduler (and nova-ha's filters)
        choose.  With ``keep_running`` the request uses microversion 2.94,
        the last one where Nova brings a running VM back running, which
        saves a start round trip per VM; otherwise the negotiated one.
        """
        if not keep_running:
            self._call('evacuate %s' % server_id,
                       self.compute.evacuate_server, server_id)
            return
        response = self._call(
            'evacuate %s' % server_id, self.compute.post,
            '/servers/%s/action' % server_id, json={'evacuate': {}},
            microversion=KEEP_RUNNING_MICROVERSION)
        if response.status_code >= 400:
            raise NovaError('evacuate %s' % server_id,
                            sdk_exc.HttpException(response=response))

    def moves_from(self, host):
        """Every migration from ``host`` (all types), oldest first, as
        dicts.  Not filtered by changes-since: Nova compares it with a
        migration's updated_at, which a migration just accepted does not
        have yet, so the move would be hidden while it is in flight."""
        migrations = self._call('list migrations from %s' % host,
                                lambda: list(self.compute.migrations(
                                    source_compute=host)))
        return [{'id': str(m.id), 'instance': m.server_id,
                 'type': m.migration_type, 'status': m.status,
                 'source': m.source_compute, 'dest': m.dest_compute,
                 'created_at': m.created_at}
                for m in sorted(migrations, key=lambda m: (
                    m.created_at or '', m.id))]

    def stopped_by_user(self, server_id):
        """Whether the server's latest power action in Nova's records is
        a stop asked by a user.  Nova's power sync stops a guest that
        died without a user; a later start undoes a user's stop."""
        actions = self._call('list actions of %s' % server_id,
                             lambda: list(self.compute.server_actions(
                                 server_id)))
        power = [a for a in actions if a.action in POWER_ACTIONS]
        if not power:
            return False
        latest = max(power, key=lambda a: (a.start_time or '', a.request_id
                                           or ''))
        return latest.action == 'stop' and bool(latest.user_id)

    def start(self, server_id):
        self._call('start %s' % server_id, self.compute.start_server,
                   server_id)

    def stop(self, server_id):
        self._call('stop %s' % server_id, self.compute.stop_server,
                   server_id)

    def hard_reboot(self, server_id):
        self._call('reboot %s' % server_id, self.compute.reboot_server,
                   server_id, 'HARD')

    def migrate(self, server_id):
        """A cold migration; the scheduler picks the host (nova-ha's
        filters keep it in the server's segment)."""
        self._call('migrate %s' % server_id, self.compute.migrate_server,
                   server_id)

    def confirm_resize(self, server_id):
        self._call('confirm the migration of %s' % server_id,
                   self.compute.confirm_server_resize, server_id)

    def reset_state(self, server_id, state):
        self._call('reset state of %s' % server_id,
                   self.compute.reset_server_state, server_id, state)

    # -- aggregates --------------------------------------------------------

    def aggregates(self):
        return self._call('list aggregates', lambda: [
            Aggregate(str(a.id), a.name, tuple(a.hosts or ()),
                      dict(a.metadata or {}))
            for a in self.compute.aggregates()])

    def remove_host_from_aggregate(self, aggregate_id, host):
        self._call('remove %s from aggregate %s' % (host, aggregate_id),
                   self.compute.remove_host_from_aggregate, aggregate_id,
                   host)
