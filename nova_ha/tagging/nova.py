"""What the operator commands ask of Nova beyond the engine's gateway:
finding a server by name or ID, and writing server and aggregate metadata.
"""

from openstack import exceptions as sdk_exc

from nova_ha.notifier import nova as ha_nova


class NotFound(LookupError):
    pass


class OperatorNova(ha_nova.NovaGateway):

    def find_server(self, name_or_id):
        """The server (as the engine's plain dict) named or numbered
        ``name_or_id`` in any project."""
        try:
            server = self.compute.find_server(
                name_or_id, ignore_missing=True, details=True,
                all_projects=True)
        except sdk_exc.DuplicateResource:
            raise NotFound('more than one server is named %r; give its ID'
                           % name_or_id) from None
        except sdk_exc.SDKException as e:
            raise ha_nova.NovaError('find server %s' % name_or_id, e) \
                from e
        if server is None:
            raise NotFound('no server %r' % name_or_id)
        return self.server(server.id)

    def set_server_metadata(self, server_id, metadata):
        if metadata:
            self._call('set metadata of %s' % server_id,
                       self.compute.set_server_metadata, server_id,
                       **metadata)

    def delete_server_metadata(self, server_id, keys):
        if keys:
            self._call('delete metadata of %s' % server_id,
                       self.compute.delete_server_metadata, server_id,
                       list(keys))

    def set_aggregate_metadata(self, aggregate_id, metadata):
        """Set keys of an aggregate's metadata (a value of None deletes
        the key, as Nova's API does)."""
        self._call('set metadata of aggregate %s' % aggregate_id,
                   self.compute.set_aggregate_metadata, aggregate_id,
                   **metadata)
