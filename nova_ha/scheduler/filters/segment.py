"""HASegmentFilter: a moved instance stays inside its source host's segment.

A failover segment is a set of hosts that share storage; an instance rebuilt
outside it would not find its disks.  Evacuations are always confined (and,
under the ``reserved_host`` recovery method, go to reserved hosts only); cold
and live migrations and resizes are confined too unless
``[ha_scheduler] confine_all_moves`` is false.  Boots and unshelves have no
source host and pass; so does every move whose source is in no segment.
"""

from nova.scheduler import filters
from oslo_log import log as logging

from nova_ha import conf
from nova_ha.scheduler import hosts
from nova_ha.scheduler import policy
from nova_ha.scheduler import request

LOG = logging.getLogger(__name__)


class HASegmentFilter(filters.BaseHostFilter):

    RUN_ON_REBUILD = False

    def host_passes(self, host_state, spec_obj):
        verdict = policy.segment_boundary(
            request.request_facts(spec_obj), hosts.view_of(host_state),
            conf.CONF.ha_scheduler.confine_all_moves)
        if not verdict.passes:
            LOG.debug('%(host)s fails HASegmentFilter: %(why)s',
                      {'host': host_state.host, 'why': verdict.reason})
        return verdict.passes
