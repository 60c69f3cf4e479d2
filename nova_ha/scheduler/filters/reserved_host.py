"""HAReservedHostFilter: reserved failover hosts take failovers only.

A host is reserved when it is in a failover segment and in an aggregate with
``ha:reserved=true``.  Every request except an evacuation from the same
segment (boots, resizes, migrations, unshelves, evacuations from elsewhere)
is kept off it, so the capacity is there when a host of the segment dies.
Reserved hosts stay enabled in Nova: a disabled host is excluded from
evacuations too.
"""

from nova.scheduler import filters
from oslo_log import log as logging

from nova_ha.scheduler import hosts
from nova_ha.scheduler import policy
from nova_ha.scheduler import request

LOG = logging.getLogger(__name__)


class HAReservedHostFilter(filters.BaseHostFilter):

    # A same-host rebuild keeps its host whatever that host is.
    RUN_ON_REBUILD = False

    def host_passes(self, host_state, spec_obj):
        verdict = policy.reserved_capacity(
            lambda: request.request_facts(spec_obj), hosts.view_of(host_state))
        if not verdict.passes:
            LOG.debug('%(host)s fails HAReservedHostFilter: %(why)s',
                      {'host': host_state.host, 'why': verdict.reason})
        return verdict.passes
