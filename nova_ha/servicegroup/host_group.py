"""The tooz group of live compute hosts, which each nova-ha-monitor joins
(nova_ha.compute_hooks.heartbeat) and the engine and the peer channel
read."""

from urllib import parse

from nova_ha.servicegroup import backend

HOST_TOPIC = 'nova-ha-host'
# The tooz group of live compute hosts ('nova-ha.nova-ha-host').
HOST_GROUP = backend.group_for_topic(HOST_TOPIC)
# tooz's Redis driver keeps one liveness key per member id and namespace,
# shared by all its groups: nova-compute and this monitor, both member
# HOST, would keep each other "alive".  The host group lives in its own
# namespace there (other drivers track liveness per coordinator).
REDIS_NAMESPACE = '_nova_ha_host'


def host_group_url(url):
    """The backend URL for the host group, given the servicegroup's."""
    parts = parse.urlsplit(url)
    if not parts.scheme.startswith('redis'):
        return url
    query = dict(parse.parse_qsl(parts.query, keep_blank_values=True))
    query.setdefault('namespace', REDIS_NAMESPACE)
    return parse.urlunsplit(parts._replace(query=parse.urlencode(query)))
