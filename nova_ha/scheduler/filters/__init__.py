"""nova-ha's scheduler filters.

Enable them in nova.conf of nova-scheduler::

    [filter_scheduler]
    available_filters = nova.scheduler.filters.all_filters
    available_filters = nova_ha.scheduler.filters.all_filters
    enabled_filters = ...Nova's list...,HAReservedHostFilter,HASegmentFilter
"""

from nova_ha.scheduler.filters.reserved_host import HAReservedHostFilter
from nova_ha.scheduler.filters.segment import HASegmentFilter


def all_filters():
    """The filter classes of nova-ha (for ``available_filters``)."""
    return [HAReservedHostFilter, HASegmentFilter]
