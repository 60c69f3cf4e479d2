"""The cloud's servers, kept warm between failures.

A recovery plans from the failed host's servers in detail (metadata,
status, task).  Read when the failure is reported, that list is the
slowest read of a recovery and grows with the host: 1 s of nova-api
work for 50 VMs on the in-process cloud, while the fence took 0.3 s, so
the first evacuation waited for it.

The inventory reads every server once (all projects, in detail), then
only what changed, every ``interval`` seconds (Nova's ``changes-since``,
which includes deleted servers), and not while a recovery runs: those
reads are nova-api work that the evacuations would wait for.  At a
failure, the host's servers as of the last read stand in for the early
read of ``server_snapshot.ServerSnapshot``, which brings them up to date
once the host is fenced with its two small reads (changes and departures
since the inventory's read began, less the clock margin).  A failure
costs Nova those two reads only.

A server deleted and then archived out of Nova's tables between two reads
would never show as deleted, so the inventory reads everything again
every ``full_interval``; a read older than that is not used at all (the
snapshot reads the host afresh, as it does with no inventory).
"""

import dataclasses
import threading

from oslo_log import log as logging

from nova_ha.notifier import server_snapshot

LOG = logging.getLogger(__name__)

DEFAULT_FULL_INTERVAL = 3600.0
# Logged (INFO) after each read of every server.
FULL_READ_LOG = 'server inventory: read all'


@dataclasses.dataclass(frozen=True)
class HostServers:
    """A host's servers as of a read that began at ``as_of``."""

    servers: list
    as_of: object     # aware datetime


class ServerInventory:
    """Every server of the cloud by id, brought up to date by ``refresh``
    (which ``run`` calls every ``interval`` seconds until ``stop``)."""

    def __init__(self, nova, interval, full_interval=DEFAULT_FULL_INTERVAL,
                 busy=lambda: False, now=server_snapshot.utcnow):
        self.nova = nova
        self.interval = interval
        self.full_interval = max(interval, full_interval)
        self._busy = busy
        self._now = now
        self._lock = threading.Lock()
        self._servers = {}
        self._as_of = None       # start of the read behind _servers
        self._full_as_of = None  # start of the last full read
        self._stopped = threading.Event()
        self._thread = None

    # -- reading ------------------------------------------------------------

    def refresh(self):
        """One read: everything when due, else the changes since the last
        read (less the clock margin).  Returns the servers read; a failed
        read leaves the inventory as it was and raises."""
        started = self._now()
        with self._lock:
            full = self._full_as_of is None or \
                (started - self._full_as_of).total_seconds() >= \
                self.full_interval
            since = None if full else (
                self._as_of - server_snapshot.CLOCK_SKEW_MARGIN).isoformat()
        servers = self.nova.all_servers(changes_since=since)
        with self._lock:
            if full:
                self._servers = {}
                self._full_as_of = started
            for server in servers:
                if server['status'] == 'DELETED':
                    self._servers.pop(server['id'], None)
                else:
                    self._servers[server['id']] = server
            self._as_of = started
        if full:
            LOG.info('%s %d servers', FULL_READ_LOG, len(servers))
        else:
            LOG.debug('server inventory: %d servers changed, %d known',
                      len(servers), len(self._servers))
        return servers

    def on(self, host):
        """``host``'s servers (HostServers) as of the last read; None when
        there is none recent enough to correct (see the module's note)."""
        now = self._now()
        with self._lock:
            if self._full_as_of is None or \
                    (now - self._full_as_of).total_seconds() > \
                    self.full_interval + self.interval:
                return None
            return HostServers([dict(s) for s in self._servers.values()
                                if s['host'] == host], self._as_of)

    # -- the background loop -------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self.run, daemon=True,
                                        name='nova-ha-server-inventory')
        self._thread.start()
        return self

    def run(self):
        while not self._stopped.is_set():
            if not self._busy():
                try:
                    self.refresh()
                except Exception as e:
                    # The next round tries again; meanwhile a failure is
                    # planned from the older read, or a fresh one.
                    LOG.warning('server inventory: reading Nova\'s servers '
                                'failed: %s', str(e) or type(e).__name__)
            self._stopped.wait(self.interval)

    def stop(self):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
