"""A candidate host's HA view: cached, with its metadata problems logged once.

The scheduler evaluates every host on every request, so this is the hot path
of the filters.  Nova's HostManager keeps one Aggregate object per aggregate
and replaces it (never edits it) when the aggregate changes, then hands each
HostState a fresh list of those objects per request.  A view therefore
depends only on *which* Aggregate objects a host has: it is cached by their
identities.  The cache holds the objects themselves, so no identity can be
reused by a new object while its entry lives.

A misconfigured aggregate would otherwise print the same error for every
host on every request; problems are logged once per host and problem set.
"""

import threading

from oslo_log import log as logging

from nova_ha.model import aggregates as ha_aggregates

LOG = logging.getLogger(__name__)

# Distinct aggregate combinations are few (segments x reserved x AZs...);
# the bound only matters if aggregates churn, and then the cache restarts.
_MAX_CACHED = 4096
_views = {}
_reported = {}
_reported_lock = threading.Lock()


def view_of(host_state):
    """HostHAView of a nova HostState, from its in-memory aggregates."""
    aggregates = host_state.aggregates
    key = tuple(map(id, aggregates))
    entry = _views.get(key)
    if entry is None:
        if len(_views) >= _MAX_CACHED:
            _views.clear()
        # Keeping the aggregates in the entry pins their identities.
        entry = (tuple(aggregates), ha_aggregates.host_view(aggregates))
        _views[key] = entry
    view = entry[1]
    if view.problems:
        _report(host_state.host, view.problems)
    return view


def forget():
    """Drop cached views (tests that edit aggregates in place call this)."""
    _views.clear()
    with _reported_lock:
        _reported.clear()


def _report(host, problems):
    if _reported.get(host) == problems:
        return
    with _reported_lock:
        if _reported.get(host) == problems:
            return
        if len(_reported) >= _MAX_CACHED:
            _reported.clear()
        _reported[host] = problems
    LOG.error('nova-ha: host %s has bad HA aggregate metadata: %s',
              host, '; '.join(problems))
