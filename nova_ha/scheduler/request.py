"""What kind of scheduling request this is: a failover, another move, or a
placement of a VM that has no host (a boot or an unshelve).

Nova's RequestSpec does not say.  ``ignore_hosts == [source]`` is set by
evacuation, cold migration and live migration alike, and a resize that may
stay on its host sets nothing.  The reliable signal is the instance itself:
while Nova schedules an evacuation its ``task_state`` is ``rebuilding`` (a
same-host rebuild also is, but then Nova marks the request with
``_nova_check_type`` and skips our filters, which have RUN_ON_REBUILD False),
and ``instance.host`` is still the failed source host.

Reading the instance costs database round trips (InstanceMapping in the API
database, then the Instance in its cell, then the source host's aggregates),
so the facts are computed once per request, lazily (only when a filter meets
a host that needs them), and kept on the request spec object for the other
filters of the same pass.  The spec object lives for one request in the
scheduler, so the memo cannot leak into another request.
"""

import dataclasses
import enum
import threading
from typing import Optional

from oslo_log import log as logging

from nova_ha.model import aggregates as ha_aggregates

LOG = logging.getLogger(__name__)

_MEMO_ATTR = '_nova_ha_request_facts'
# Guards the memo when two filters of one request run in different threads
# (they don't in Nova today; the lock is cheap and keeps the promise).
_MEMO_LOCK = threading.Lock()


class RequestKind(str, enum.Enum):
    PLACEMENT = 'placement'     # new boot or unshelve: no source host
    MOVE = 'move'               # cold/live migration, resize
    FAILOVER = 'failover'       # evacuation from a failed host
    UNKNOWN = 'unknown'         # the facts could not be read


@dataclasses.dataclass(frozen=True)
class RequestFacts:
    kind: RequestKind
    instance_uuid: Optional[str] = None
    source_host: Optional[str] = None
    source_view: ha_aggregates.HostHAView = ha_aggregates.NO_HA

    @property
    def is_failover(self):
        return self.kind is RequestKind.FAILOVER

    @property
    def source_segment(self):
        return self.source_view.segment


class InstanceReader:
    """Reads the facts from Nova's databases (the only I/O of the filters).

    Tests and benchmarks can swap ``facts_for`` to run without databases.
    """

    def facts_for(self, spec_obj):
        # Imported here: the scheduler has these loaded; importing them at
        # module import would drag Nova's object registry into unit tests
        # of the pure parts.
        from nova import context as nova_context
        from nova import exception
        from nova import objects
        from nova.compute import task_states

        uuid = spec_obj.instance_uuid
        ctxt = nova_context.get_admin_context()
        try:
            mapping = objects.InstanceMapping.get_by_instance_uuid(ctxt, uuid)
        except exception.InstanceMappingNotFound:
            return RequestFacts(RequestKind.PLACEMENT, uuid)
        if mapping.cell_mapping is None:
            # Still a BuildRequest: a new boot.
            return RequestFacts(RequestKind.PLACEMENT, uuid)
        with nova_context.target_cell(ctxt, mapping.cell_mapping) as cctxt:
            instance = objects.Instance.get_by_uuid(
                cctxt, uuid, expected_attrs=[])
        if not instance.host:
            return RequestFacts(RequestKind.PLACEMENT, uuid)
        source_aggs = objects.AggregateList.get_by_host(ctxt, instance.host)
        view = ha_aggregates.host_view(source_aggs)
        kind = (RequestKind.FAILOVER
                if instance.task_state == task_states.REBUILDING
                else RequestKind.MOVE)
        return RequestFacts(kind, uuid, instance.host, view)


reader = InstanceReader()


def request_facts(spec_obj):
    """The facts of this request, read at most once per request."""
    facts = spec_obj.__dict__.get(_MEMO_ATTR)
    if facts is not None:
        return facts
    with _MEMO_LOCK:
        facts = spec_obj.__dict__.get(_MEMO_ATTR)
        if facts is None:
            facts = _read_facts(spec_obj)
            # A plain attribute, not a RequestSpec field: never serialized,
            # never saved, gone with the request.
            spec_obj.__dict__[_MEMO_ATTR] = facts
    return facts


def _read_facts(spec_obj):
    try:
        facts = reader.facts_for(spec_obj)
    except Exception:
        LOG.exception('nova-ha: could not tell what kind of request '
                      'instance %s is; reserved hosts and segment hosts are '
                      'refused for it (the safe answer)',
                      getattr(spec_obj, 'instance_uuid', None))
        return RequestFacts(RequestKind.UNKNOWN,
                            getattr(spec_obj, 'instance_uuid', None))
    if facts.source_view.problems:
        LOG.error('nova-ha: source host %s of instance %s has bad HA '
                  'metadata: %s', facts.source_host, facts.instance_uuid,
                  '; '.join(facts.source_view.problems))
    LOG.debug('nova-ha: request for instance %s is a %s from host %s '
              '(segment %s)', facts.instance_uuid, facts.kind.value,
              facts.source_host, facts.source_view.segment_name)
    return facts
