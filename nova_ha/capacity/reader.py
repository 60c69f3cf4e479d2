"""Builds the capacity model from Nova's API and placement (openstacksdk).

Reads, for the hosts of the failover segments only:

* aggregates and compute services (nova_ha.notifier.nova.NovaGateway);
* compute nodes: ``GET /os-hypervisors/detail`` at microversion 2.53 (the
  node's id is its placement resource provider; from 2.88 on the detail
  view asks every nova-compute for its uptime, one RPC call per node);
* per node: ``/resource_providers/{uuid}/inventories``, ``/usages`` and
  ``/allocations`` from placement (raw GETs: they work with the generic
  and the versioned placement proxy alike);
* per host: its servers with their metadata (NovaGateway.servers_on).

A VM's size is its allocation on its host's resource provider: exactly
what an evacuation claims on the target (the flavor's resources).
Consumers that are not servers (a migration holding the source's
allocation) count in the host's usage but are not VMs.
"""

from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc
from oslo_log import log as logging

from nova_ha.capacity import model
from nova_ha.maintenance import mark
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import nova as ha_nova

LOG = logging.getLogger(__name__)

HYPERVISOR_MICROVERSION = '2.53'


class CapacityReadError(Exception):
    """Nova or placement could not be read; the message says what."""


def _get_json(proxy, url, what, **kwargs):
    try:
        response = proxy.get(url, **kwargs)
    except (sdk_exc.SDKException, ks_exc.ClientException) as exc:
        raise CapacityReadError('%s: %s' % (what, exc)) from exc
    if response.status_code >= 400:
        raise CapacityReadError('%s: HTTP %d: %s' % (
            what, response.status_code, (response.text or '')[:200]))
    return response.json()


class CapacityReader:

    def __init__(self, connection):
        self.conn = connection
        self.nova = ha_nova.NovaGateway(connection)

    def cloud(self, segments=None, hosts=()):
        """A model.Cloud of the hosts of ``segments`` and of the segments
        of ``hosts`` (neither: of every segment)."""
        try:
            aggregates = self.nova.aggregates()
            services = {s['host']: s for s in self.nova.compute_services()}
        except ha_nova.NovaError as exc:
            raise CapacityReadError(str(exc)) from exc
        views = {host: ha_aggregates.host_view_of(aggregates, host)
                 for agg in aggregates
                 if ha_aggregates.SEGMENT_KEY in agg.metadata
                 for host in agg.hosts}
        known = {v.segment_name for v in views.values() if v.segment_name}
        unknown = sorted(set(segments or ()) - known)
        if unknown:
            raise CapacityReadError('no such segment: %s (segments: %s)' % (
                ', '.join(unknown), ', '.join(sorted(known)) or 'none'))
        wanted = set(segments or ()) | {
            views[h].segment_name for h in hosts if h in views}
        if not segments and not hosts:
            wanted = known
        nodes = self._nodes()
        problems = []
        cloud_hosts = {}
        vms = []
        for name, view in sorted(views.items()):
            if view.segment_conflict:
                problems.append('%s: %s; left out (the engine does not '
                                'recover it)' % (name, '; '.join(
                                    view.problems)))
                continue
            if view.segment_name not in wanted:
                continue
            host_nodes = nodes.get(name, [])
            if len(host_nodes) != 1:
                problems.append(
                    '%s has %d compute nodes; the capacity check handles '
                    'hosts with exactly one and leaves it out' % (
                        name, len(host_nodes)))
                continue
            host, host_vms, host_problems = self._host(
                name, host_nodes[0], view, services.get(name))
            cloud_hosts[name] = host
            vms.extend(host_vms)
            problems.extend(host_problems)
        for problem in problems:
            LOG.warning('capacity: %s', problem)
        return model.Cloud(hosts=cloud_hosts, vms=tuple(vms),
                           problems=tuple(problems))

    def _nodes(self):
        """Service host -> [compute node uuid] (follows pagination)."""
        nodes = {}
        url = '/os-hypervisors/detail'
        while url:
            page = _get_json(self.conn.compute, url, 'list compute nodes',
                             microversion=HYPERVISOR_MICROVERSION)
            for node in page.get('hypervisors', []):
                host = (node.get('service') or {}).get('host')
                nodes.setdefault(host, []).append(node['id'])
            url = next((link['href'] for link in
                        page.get('hypervisors_links', [])
                        if link.get('rel') == 'next'), None)
        return nodes

    def _placement(self, uuid, what):
        return _get_json(self.conn.placement,
                         '/resource_providers/%s/%s' % (uuid, what),
                         'placement %s of provider %s' % (what, uuid))

    def _host(self, name, node, view, service):
        problems = []
        inventories = {
            rc: model.Inventory(
                total=int(inv['total']), reserved=int(inv.get('reserved', 0)),
                allocation_ratio=float(inv.get('allocation_ratio', 1.0)),
                min_unit=int(inv.get('min_unit', 1)),
                max_unit=inv.get('max_unit'),
                step_size=int(inv.get('step_size', 1)))
            for rc, inv in self._placement(node, 'inventories')[
                'inventories'].items()}
        used = dict(self._placement(node, 'usages')['usages'])
        allocations = self._placement(node, 'allocations')['allocations']
        if service is None:
            problems.append('%s has no nova-compute service: counted as '
                            'down' % name)
        host = model.Host(
            name=name, view=view, inventories=inventories, used=used,
            service_up=bool(service and service['state'] == 'up'),
            service_enabled=bool(service and service['status'] ==
                                 'enabled'),
            maintenance_disabled=mark.disabled_by_maintenance(service))
        try:
            servers = self.nova.servers_on(name)
        except ha_nova.NovaError as exc:
            raise CapacityReadError(str(exc)) from exc
        vms = []
        for server in servers:
            allocation = allocations.get(server['id'])
            if allocation is None:
                problems.append('server %s on %s holds no allocation on its '
                                'host in placement: counted as needing '
                                'nothing' % (server['id'], name))
            vms.append(model.VM(
                id=server['id'], name=server['name'] or '', host=name,
                status=server['status'] or '', metadata=server['metadata'],
                resources=dict((allocation or {}).get('resources', {}))))
        return host, vms, problems
