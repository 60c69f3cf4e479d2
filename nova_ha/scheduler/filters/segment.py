"""HASegmentFilter: a moved instance stays inside its source host's segment.

A failover segment is a set of hosts that share storage; an instance rebuilt
outside it would not find its disks.  Evacuations are always confined (and,
under the ``reserved_host`` recovery method, go to reserved hosts only); cold
and live migrations and resizes are confined too unless
``[ha_scheduler] confine_all_moves`` is false.  Boots and unshelves have no
source host and pass without a look at the hosts; so does every move whose
source is in no segment, but an evacuation, which stays on hosts in no
segment unless ``[ha_scheduler] unsegmented_failover`` is ``any``.
"""

from nova_ha import conf
from nova_ha.scheduler.filters import base
from nova_ha.scheduler import policy
from nova_ha.scheduler.request import RequestKind


class HASegmentFilter(base.HAHostFilter):

    def restricts(self, facts_of):
        return facts_of().kind is not RequestKind.PLACEMENT

    def verdict(self, view, facts_of):
        options = conf.CONF.ha_scheduler
        return policy.segment_boundary(
            facts_of(), view, options.confine_all_moves,
            options.unsegmented_failover)
