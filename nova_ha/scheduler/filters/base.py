"""What nova-ha's two filters share: one pass over the hosts per request.

Nova's default ``filter_all`` calls ``_filter_one`` per host, which asks
"is this request a same-host rebuild?" again for every host.  Our filters
ask once per request, may skip the whole pass when the request cannot be
restricted by them, and judge each distinct HA view once per request: hosts
share a handful of views (one per aggregate combination), so per host the
cost is one cached view lookup and one dictionary lookup.
"""

import functools
import logging as std_logging

from nova.scheduler import filters
from nova.scheduler import utils as scheduler_utils
from oslo_log import log as logging

from nova_ha.scheduler import hosts
from nova_ha.scheduler import request

LOG = logging.getLogger(__name__)


class HAHostFilter(filters.BaseHostFilter):

    # A same-host rebuild keeps its host whatever that host is.
    RUN_ON_REBUILD = False

    def verdict(self, view, facts_of):
        """policy.Verdict for a host's view; ``facts_of()`` reads the
        request's facts (memoized per request).  Called once per distinct
        view per request, so it may read options."""
        raise NotImplementedError()

    def restricts(self, facts_of):
        """False when this request passes every host (skip the pass)."""
        return True

    def host_passes(self, host_state, spec_obj):
        verdict = self.verdict(hosts.view_of(host_state),
                               functools.partial(request.request_facts,
                                                 spec_obj))
        if not verdict.passes:
            self._log_rejection(host_state, verdict)
        return verdict.passes

    def filter_all(self, host_states, spec_obj):
        if scheduler_utils.request_is_rebuild(spec_obj):
            return host_states
        facts_of = functools.partial(request.request_facts, spec_obj)
        if not self.restricts(facts_of):
            return host_states
        debug = LOG.isEnabledFor(std_logging.DEBUG)
        # id(view) -> (view, Verdict) for this request only; holding the
        # view keeps its identity from being reused during the pass.
        verdicts = {}
        kept = []
        for host_state in host_states:
            view = hosts.view_of(host_state)
            entry = verdicts.get(id(view))
            if entry is None:
                entry = verdicts[id(view)] = (view,
                                              self.verdict(view, facts_of))
            verdict = entry[1]
            if verdict.passes:
                kept.append(host_state)
            elif debug:
                self._log_rejection(host_state, verdict)
        return kept

    def _log_rejection(self, host_state, verdict):
        LOG.debug('%(host)s fails %(filter)s: %(why)s',
                  {'host': host_state.host, 'filter': type(self).__name__,
                   'why': verdict.reason})
