"""A candidate host's HA view, with its metadata problems logged once.

The scheduler evaluates every host on every request; a misconfigured
aggregate would otherwise print the same error thousands of times a minute.
"""

import threading

from oslo_log import log as logging

from nova_ha.model import aggregates as ha_aggregates

LOG = logging.getLogger(__name__)

_reported = {}
_reported_lock = threading.Lock()
# Bounds the memory of "already said"; when full it forgets and re-reports.
_MAX_REPORTED = 10000


def view_of(host_state):
    """HostHAView of a nova HostState, from its in-memory aggregates."""
    view = ha_aggregates.host_view(host_state.aggregates)
    if view.problems:
        _report(host_state.host, view.problems)
    return view


def _report(host, problems):
    with _reported_lock:
        if _reported.get(host) == problems:
            return
        if len(_reported) >= _MAX_REPORTED:
            _reported.clear()
        _reported[host] = problems
    LOG.error('nova-ha: host %s has bad HA aggregate metadata: %s',
              host, '; '.join(problems))
