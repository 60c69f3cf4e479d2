"""The servers of a failed host, read before it is fenced, made exact after.

Listing a host's servers in detail is the slowest read of a recovery (half
a second for 12 VMs on the in-process cloud, more on a busy nova-api).  It
starts as soon as a recovery is likely, beside the guard and the fence;
once the host is fenced, a second read of only the servers changed since
the first one started (Nova's ``changes-since``) catches what arrived,
changed or was deleted in between, so the plan is as exact as a read made
after the fence, at the cost of a small query.  (A server that left the
host meanwhile is found when its evacuation is refused: the flow reads it
again then.)
"""

from concurrent import futures
import datetime

# Nova compares changes-since with the clocks of the services that wrote
# the changes: read from this far back so that clock skew cannot hide one
# (a few extra servers in the second read are harmless).  Nova's own
# liveness and the confirmation's heartbeat age already need clocks that
# agree to within seconds (NTP).
CLOCK_SKEW_MARGIN = datetime.timedelta(seconds=10)

DELETED_STATES = ('DELETED', 'SOFT_DELETED')


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class ServerSnapshot:
    """Reads ``host``'s servers in the background from construction on."""

    def __init__(self, nova, host, now=utcnow):
        self.nova = nova
        self.host = host
        self.started_at = now()
        self._pool = futures.ThreadPoolExecutor(
            1, thread_name_prefix='nova-ha-snapshot')
        self._first = self._pool.submit(nova.servers_on, host)

    def close(self):
        self._pool.shutdown(wait=False)

    def servers(self):
        """The host's servers as they are now (call once it is fenced).

        If the first read failed, the servers are read again in full.
        """
        try:
            first = self._first.result()
        except Exception:
            return self.nova.servers_on(self.host)
        finally:
            self.close()
        since = (self.started_at - CLOCK_SKEW_MARGIN).isoformat()
        changed = self.nova.servers_on(self.host, changes_since=since)
        return merge(first, changed, self.host)


def merge(first, changed, host):
    """``first`` updated with ``changed`` (a changes-since read of the
    host's servers), in the first read's order, arrivals last."""
    by_id = {s['id']: s for s in first}
    order = [s['id'] for s in first]
    for server in changed:
        if server['id'] not in by_id:
            order.append(server['id'])
        by_id[server['id']] = server
    return [by_id[i] for i in order
            if by_id[i]['status'] not in DELETED_STATES and
            by_id[i]['host'] == host]
