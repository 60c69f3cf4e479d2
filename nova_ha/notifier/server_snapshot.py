"""The servers of a failed host, read before it is fenced, corrected after.

Listing a host's servers in detail is the slowest read of a recovery (half
a second for 12 VMs on the in-process cloud, more on a busy nova-api).  It
starts once the guard has let the recovery go, beside the fence.  Once the
host is fenced its servers cannot change any more, and two small reads
bring the early list up to date:

* the host's servers changed since the early read began (Nova's
  ``changes-since``, which includes deleted servers): arrivals, state
  changes, deletions;
* the migrations from the host changed since then: a server that left
  (a migration or resize finishing just before the fence) is read again
  and, now elsewhere, dropped, so it is never evacuated from a host that
  was not fenced.

The two run at once.

Nova compares ``changes-since`` with the clocks of the services that wrote
the changes; the reads reach back ``CLOCK_SKEW_MARGIN`` further, so those
clocks must agree with this engine's to within that margin (NTP), as
Nova's own service liveness and the confirmation's heartbeat age already
require.  If any read fails, the host's servers are read again in full.

The early read may also be one the engine made before the failure (see
server_inventory): the correction then reaches back to when that read
began.
"""

from concurrent import futures
import datetime

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

CLOCK_SKEW_MARGIN = datetime.timedelta(seconds=10)
# A first read still running after this long is abandoned for a new one.
FIRST_READ_TIMEOUT = 60.0


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class ServerSnapshot:
    """Reads ``host``'s servers in the background from construction on."""

    def __init__(self, nova, host, now=utcnow, warm=None):
        """``warm``: the host's servers as a read that began earlier
        found them (server_inventory.HostServers); they stand in for the
        early read, which then is not made."""
        self.nova = nova
        self.host = host
        self._pool = futures.ThreadPoolExecutor(
            1, thread_name_prefix='nova-ha-snapshot')
        if warm is not None:
            self.started_at = warm.as_of
            self._first = futures.Future()
            self._first.set_result(list(warm.servers))
        else:
            self.started_at = now()
            self._first = self._pool.submit(nova.servers_on, host)

    def close(self):
        self._pool.shutdown(wait=False)

    def servers(self, first_read_timeout=FIRST_READ_TIMEOUT):
        """The host's servers as they are now (call once it is fenced)."""
        try:
            first = self._first.result(timeout=first_read_timeout)
            since = (self.started_at - CLOCK_SKEW_MARGIN).isoformat()
            # The two reads at once: the plan, and so the evacuations,
            # wait for the slower.
            changed_read = self._pool.submit(
                self.nova.servers_on, self.host, changes_since=since)
            left = self.nova.migrations_from(self.host, since)
            changed = changed_read.result()
            seen = {s['id'] for s in changed}
            changed += [self.nova.server(server_id) for server_id in left
                        if server_id not in seen]
        except Exception as e:
            LOG.warning('reading the servers of %s in two steps failed '
                        '(%s); reading them again in full', self.host,
                        str(e) or type(e).__name__)
            return self.nova.servers_on(self.host)
        finally:
            self.close()
        return merge(first, changed, self.host)


def merge(first, changed, host):
    """``first`` updated with ``changed`` (servers read later), in the
    first read's order, arrivals last; servers now on another host are
    dropped."""
    by_id = {s['id']: s for s in first}
    order = [s['id'] for s in first]
    for server in changed:
        if server['id'] not in by_id:
            order.append(server['id'])
        by_id[server['id']] = server
    return [by_id[i] for i in order if by_id[i]['host'] == host]
