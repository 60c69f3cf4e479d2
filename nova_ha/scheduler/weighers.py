"""HAFailoverWeigher: the order in which a failover tries its segment's hosts.

The filters decide where an evacuation may go; this weigher decides where it
goes first, per the segment's recovery method (see policy.failover_preference).
Masakari implements the *_priority methods as "run one whole recovery, and on
failure run the other"; weighing does the same per VM in one pass, with the
scheduler's real view of free capacity.

Enable it next to Nova's weighers::

    [filter_scheduler]
    weight_classes = nova.scheduler.weights.all_weighers,nova_ha.scheduler.weighers.HAFailoverWeigher
"""

from nova.scheduler import weights

from nova_ha import conf
from nova_ha.scheduler import hosts
from nova_ha.scheduler import policy
from nova_ha.scheduler import request


class HAFailoverWeigher(weights.BaseHostWeigher):

    minval = 0.0
    maxval = 1.0

    def weight_multiplier(self, host_state):
        return conf.CONF.ha_scheduler.failover_weight_multiplier

    def weigh_objects(self, weighed_obj_list, spec_obj):
        # Only failovers are weighed: skip the per-host work otherwise.
        if (not self.weight_multiplier(None)
                or not request.request_facts(spec_obj).is_failover):
            return [0.0] * len(weighed_obj_list)
        return super().weigh_objects(weighed_obj_list, spec_obj)

    def _weigh_object(self, host_state, spec_obj):
        return policy.failover_preference(
            request.request_facts(spec_obj), hosts.view_of(host_state))


def all_weighers():
    return [HAFailoverWeigher]
