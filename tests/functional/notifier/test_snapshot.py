"""The failed host's server list, read early and corrected, against Nova.

Real Nova (the in-process cloud) answers the reads: what its
``changes-since`` filter returns together with the host filter (deleted
servers included), and what its migrations list shows of a server that
left the host after the first read.
"""

from nova_ha.testing import cloud  # noqa: I100  (imports Nova's test mode)

from nova_ha.notifier import decisions
from nova_ha.notifier import nova as ha_nova
from nova_ha.notifier import server_snapshot


class TestServerSnapshot(cloud.HACloudTestCase):

    def test_correction_sees_arrivals_changes_deletions_and_departures(self):
        small = self._create_flavor(name='small', memory_mb=512, vcpu=1,
                                    disk=1, ephemeral=0)
        kept = self.boot_server('kept', host='a1', flavor_id=small)
        deleted = self.boot_server('deleted', host='a1', flavor_id=small)
        left = self.boot_server('left', host='a1', flavor_id=small)
        nova = ha_nova.NovaGateway(self.sdk_connection())

        snapshot = server_snapshot.ServerSnapshot(nova, 'a1')
        first = snapshot._first.result(timeout=60)
        self.assertEqual({kept['id'], deleted['id'], left['id']},
                         {s['id'] for s in first})

        # What happens on the host before it is fenced:
        self._delete_server(deleted)
        arrived = self.boot_server('arrived', host='a1', flavor_id=small)
        self.admin_api.post_server_metadata(kept['id'],
                                            {'ha:priority': '9'})
        self._migrate_server(left, host='a2', api=self.admin_api)
        self._confirm_resize(left)

        servers = [s for s in snapshot.servers()
                   if s['status'] not in decisions.GONE]
        self.assertEqual([kept['id'], arrived['id']],
                         [s['id'] for s in servers])
        self.assertEqual('9', servers[0]['metadata']['ha:priority'])
        self.assertEqual({'a1'}, {s['host'] for s in servers})
