"""The engine's read of the monitors' peer views from the host group.

Each nova-ha-monitor publishes ``{'peers': PeerView}`` as its member
capabilities in the host group (compute_hooks.heartbeat), refreshed with
every heartbeat.  ``PeerViewReader.read(hosts)`` returns those of
``hosts`` that are there; a member without a view, or with one that does
not parse, is left out (the channel then sees less, never more).
"""

from oslo_log import log as logging
from tooz import coordination

from nova_ha.servicegroup import backend
from nova_ha.servicegroup import channels
from nova_ha.servicegroup import host_group

LOG = logging.getLogger(__name__)


class Unreadable(RuntimeError):
    pass


class PeerViewReader:

    def __init__(self, url, member_id, timeout=2.0):
        self._url = host_group.host_group_url(url)
        self._member_id = member_id
        self._timeout = timeout
        self._coordinator = None
        self._bad = set()

    def _connect(self):
        if self._coordinator is None:
            self._coordinator = backend.connect(self._url, self._member_id)
        return self._coordinator

    def read(self, hosts):
        group = host_group.HOST_GROUP.encode()
        views = {}
        try:
            coordinator = self._connect()
            for host in sorted(hosts):
                try:
                    capabilities = coordinator.get_member_capabilities(
                        group, host.encode()).get(timeout=self._timeout)
                except coordination.MemberNotJoined:
                    continue
                view = None
                if isinstance(capabilities, dict) and \
                        isinstance(capabilities.get('peers'), dict):
                    view = channels.PeerView.from_dict(capabilities['peers'])
                if view is None or view.observer != host:
                    if host not in self._bad and capabilities:
                        self._bad.add(host)
                        LOG.warning('the host group member %s publishes no '
                                    'peer view nova-ha can read', host)
                    continue
                views[host] = view
        except coordination.GroupNotCreated:
            return views
        except Exception as e:
            raise Unreadable('%s: %s' % (type(e).__name__, e)) from e
        return views
