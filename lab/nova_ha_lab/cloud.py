"""The lab cloud as its operator sees it: openstacksdk on the lab's APIs.

Segments, reserved hosts and HA VMs are declared exactly as the README
tells an operator: aggregate metadata and server metadata.
"""

import time

import openstack
from openstack import config as os_config

# Boot on a named host through the scheduler (2.74) and without ports (2.37).
COMPUTE_MICROVERSION = '2.74'
API_TIMEOUT = 30
IMAGE = 'lab-tiny'
FLAVOR = 'lab.tiny'


def connect(layout):
    cloud = os_config.OpenStackConfig(
        config_files=[layout.clouds_yaml]).get_one('lab')
    conn = openstack.connection.Connection(
        config=cloud, compute_api_version=COMPUTE_MICROVERSION)
    conn.compute.default_microversion = COMPUTE_MICROVERSION
    return conn


def wait_for(what, predicate, timeout, interval=1.0):
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError('lab: %s not reached after %.0f s' % (
                what, timeout))
        time.sleep(interval)


def compute_services(conn):
    """{host: service} of every nova-compute."""
    return {service.host: service
            for service in conn.compute.services(binary='nova-compute')}


def ensure_segments(conn, layout):
    """One aggregate per segment (``ha:segment``), one per segment for its
    reserved hosts (``ha:reserved``)."""
    existing = {agg.name: agg for agg in conn.compute.aggregates()}
    for segment, hosts in layout.segments().items():
        for name, members, metadata in (
                (segment, hosts, {'ha:segment': segment}),
                (segment + '-reserved', [h for h in hosts if h.reserved],
                 {'ha:reserved': 'true'})):
            aggregate = existing.get(name) or conn.compute.create_aggregate(
                name=name)
            conn.compute.set_aggregate_metadata(aggregate, metadata)
            present = set(conn.compute.get_aggregate(aggregate).hosts or ())
            for host in members:
                if host.name not in present:
                    conn.compute.add_host_to_aggregate(aggregate, host.name)


def boot(conn, name, host, ha=True, priority=0):
    """A VM on ``host`` (through the scheduler); returns its id."""
    image = conn.image.find_image(IMAGE, ignore_missing=False)
    flavor = conn.compute.find_flavor(FLAVOR, ignore_missing=False)
    metadata = {'ha:enabled': 'true' if ha else 'false'}
    if ha:
        metadata['ha:priority'] = str(priority)
    server = conn.compute.create_server(
        name=name, image_id=image.id, flavor_id=flavor.id, networks='none',
        host=host, metadata=metadata)
    return server.id
