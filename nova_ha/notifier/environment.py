"""Everything the VM-failure and process-failure flows touch outside
themselves, in one object.

Following pve-ha-manager's design, the flows never call a clock, a lock
service or Nova directly; they ask the environment.  Production wires the
real parts (openstacksdk, tooz, the SQL history); tests wire the
in-process Nova cloud and real tooz/SQLite, or substitute a part that
cannot exist here.  (Host failures are nova_ha.engine's, with an
environment of its own: nova_ha.engine.env.)
"""

import contextlib
import threading
import time
import uuid

from oslo_log import log as logging

from nova_ha.servicegroup import backend as sg_backend

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
        sg_backend.one_try_per_command(self.coordinator)

    @contextlib.contextmanager
    def lock(self, name, timeout):
        lock = self.coordinator.get_lock(('nova-ha-' + name).encode())
        if not lock.acquire(blocking=timeout):
            raise LockBusy('lock %s is held by another engine' % name)
        try:
            yield
        finally:
            lock.release()

    def try_lock(self, name):
        """Acquire without waiting; returns the lock or None."""
        lock = self.coordinator.get_lock(('nova-ha-' + name).encode())
        return lock if lock.acquire(blocking=False) else None

    def stop(self):
        self.coordinator.stop()


class Environment:

    def __init__(self, nova, history, locks, sleep=time.sleep,
                 monotonic=time.monotonic):
        self.nova = nova
        self.history = history
        self.locks = locks
        self.sleep = sleep
        self.monotonic = monotonic
        self._record_lock = threading.Lock()
        # Records the history could not take (database down): kept, logged,
        # and flushed on the next successful write.
        self.unrecorded = []

    def lock(self, name, timeout):
        return self.locks.lock(name, timeout)

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
