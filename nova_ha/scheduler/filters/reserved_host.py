"""HAReservedHostFilter: reserved failover hosts take failovers only.

A host is reserved when it is in a failover segment and in an aggregate with
``ha:reserved=true``.  Every request except an evacuation from the same
segment (boots, resizes, migrations, unshelves, evacuations from elsewhere)
is kept off it, so the capacity is there when a host of the segment dies.
Reserved hosts stay enabled in Nova: a disabled host is excluded from
evacuations too.  The request is only classified (one database read) when
a reserved host is met.
"""

from nova_ha.scheduler.filters import base
from nova_ha.scheduler import policy


class HAReservedHostFilter(base.HAHostFilter):

    def verdict(self, view, facts_of):
        return policy.reserved_capacity(facts_of, view)
