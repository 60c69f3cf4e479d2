"""Everything the engine's flows touch outside themselves, in one object.

Following pve-ha-manager's design, the flows never call a clock, a lock
service, Nova or a BMC directly; they ask the environment.  Production wires
the real parts (openstacksdk, tooz, fence drivers, the SQL history); tests
wire the in-process Nova cloud and real tooz/SQLite, or substitute a part
that cannot exist here.
"""

import contextlib
import threading
import time
import uuid

from oslo_log import log as logging

from nova_ha.notifier import rebuild_news

LOG = logging.getLogger(__name__)


class LockBusy(Exception):
    pass


class TimedOut(Exception):
    pass


class ToozLocks:
    """Named distributed locks through a tooz coordinator.

    tooz gives the same contract over Redis, etcd3, ZooKeeper and (for a
    single machine) files; the URL chooses.
    """

    def __init__(self, url, member_id=None):
        from tooz import coordination
        self.coordinator = coordination.get_coordinator(
            url, (member_id or 'nova-ha-engine-%s' % uuid.uuid4()).encode())
        self.coordinator.start(start_heart=True)

    @contextlib.contextmanager
    def lock(self, name, timeout):
        lock = self.coordinator.get_lock(('nova-ha-' + name).encode())
        if not lock.acquire(blocking=timeout):
            raise LockBusy('lock %s is held by another engine' % name)
        try:
            yield
        finally:
            lock.release()

    def acquire(self, name, timeout):
        """Acquire and return the lock (call .release()); LockBusy if
        another engine holds it past ``timeout``."""
        lock = self.coordinator.get_lock(('nova-ha-' + name).encode())
        if not lock.acquire(blocking=timeout):
            raise LockBusy('lock %s is held by another engine' % name)
        return lock

    def try_lock(self, name):
        """Acquire without waiting; returns the lock or None."""
        lock = self.coordinator.get_lock(('nova-ha-' + name).encode())
        return lock if lock.acquire(blocking=False) else None

    def stop(self):
        self.coordinator.stop()


class Environment:

    def __init__(self, nova, history, fencer, locks, sleep=time.sleep,
                 monotonic=time.monotonic, power_reader=None,
                 fence_driver=None):
        self.nova = nova
        self.history = history
        self._fencer = fencer
        self._power_reader = power_reader
        self._fence_driver = fence_driver
        self.locks = locks
        self.sleep = sleep
        self.monotonic = monotonic
        # Nova's rebuild notifications, put here by the engine.
        self.rebuilds = rebuild_news.RebuildNews()
        self._record_lock = threading.Lock()
        # Records the history could not take (database down): kept, logged,
        # and flushed on the next successful write.
        self.unrecorded = []

    def fence(self, host):
        return self._fencer(host)

    def fencing_powers_off(self, host):
        """Whether fencing ``host`` powers it off: False for the noop
        driver, no driver, or when the environment cannot tell."""
        if self._fence_driver is None:
            return False
        try:
            return self._fence_driver(host) not in (None, 'noop')
        except Exception as e:
            LOG.warning('could not tell the fence driver of %s: %s', host, e)
            return False

    def power_state(self, host):
        """'on', 'off' or 'unknown' from the host's BMC; None when no BMC
        is consulted (no reader configured)."""
        if self._power_reader is None:
            return None
        try:
            return self._power_reader(host)
        except Exception as e:
            LOG.warning('could not read the power state of %s: %s', host, e)
            return 'unknown'

    def wait_for_rebuild_news(self, instances, timeout):
        """Sleep until news about one of ``instances`` arrives (True) or
        ``timeout`` passes (False)."""
        if self.sleep is not time.sleep:
            # A simulated clock: news arrive only between its steps.
            self.sleep(timeout)
            return self.rebuilds.wait(instances, 0)
        return self.rebuilds.wait(instances, timeout)

    def lock(self, name, timeout):
        return self.locks.lock(name, timeout)

    def acquire(self, name, timeout):
        return self.locks.acquire(name, timeout)

    def record(self, kind, message, **kw):
        LOG.info('[%s] %s', kind, message)
        with self._record_lock:
            pending = self.unrecorded + [(kind, message, kw)]
            self.unrecorded = []
            for i, (k, m, fields) in enumerate(pending):
                try:
                    self.history.record(k, m, **fields)
                except Exception as e:
                    LOG.error('history unavailable, keeping %d record(s) in '
                              'memory: %s', len(pending) - i, e)
                    self.unrecorded = pending[i:]
                    return

    def wait_for(self, predicate, timeout, interval, what):
        """Poll ``predicate`` until it returns something truthy."""
        deadline = self.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if self.monotonic() >= deadline:
                raise TimedOut('gave up waiting for %s after %.0f s'
                               % (what, timeout))
            self.sleep(interval)
