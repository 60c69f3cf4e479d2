"""Named distributed locks for the maintenance commands.

Two operators' commands on the same host (an entry and an exit, two
drains) take the host's lock, and a drain takes each VM's while it moves
it, so that they never act on one host or VM at once.  tooz gives the
same contract over Redis, etcd3, ZooKeeper and (for a single machine)
files; [engine] coordination_url chooses.
"""

import contextlib
import uuid

from nova_ha.servicegroup import backend as sg_backend


class LockBusy(Exception):
    pass


class ToozLocks:

    def __init__(self, url, member_id=None):
        from tooz import coordination
        self.coordinator = coordination.get_coordinator(
            url, (member_id or 'nova-ha-%s' % uuid.uuid4()).encode())
        self.coordinator.start(start_heart=True)
        sg_backend.one_try_per_command(self.coordinator)

    @contextlib.contextmanager
    def lock(self, name, timeout):
        lock = self.coordinator.get_lock(('nova-ha-' + name).encode())
        if not lock.acquire(blocking=timeout):
            raise LockBusy('lock %s is held by another command' % name)
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
