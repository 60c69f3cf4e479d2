"""Carry out a drain plan: move the VMs off a host, a bounded number at once.

One thread, one loop: start moves in plan order while fewer than
``max_concurrent`` are in flight, then read each moving VM from Nova and
act on what nova_ha.maintenance.plan.observe makes of it (confirm a cold
migration, finish, fail), with a deadline per VM.  Each VM is moved under
the engine's own VM lock (``vm-<id>``), so an engine and a drain never move
the same VM at once.

Interrupted (Ctrl-C): the moves Nova has accepted carry on inside Nova; the
host is already marked, so it is safe.  Running ``maintenance enter`` again
plans from what is still on the host: VMs already gone are not listed, a
live migration still running is waited for, a cold migration left awaiting
confirmation is confirmed.
"""

import collections
import dataclasses
import time

from oslo_log import log as logging

from nova_ha.maintenance import plan
from nova_ha.notifier.nova import NovaError

LOG = logging.getLogger(__name__)

MOVED = 'moved'
FAILED = 'failed'
SKIPPED = 'skipped'
GONE = 'gone'
INTERRUPTED = 'interrupted'
NOT_STARTED = 'not_started'

# Outcomes after which the VM is no longer on the host.
OFF_THE_HOST = (MOVED, GONE)

VM_LOCK = 'vm-%s'


@dataclasses.dataclass(frozen=True)
class DrainSettings:
    max_concurrent: int = 2
    migration_timeout: float = 1800.0
    poll_interval: float = 2.0


@dataclasses.dataclass(frozen=True)
class DrainResult:
    item: plan.DrainItem
    outcome: str
    target: str = ''
    detail: str = ''
    seconds: float = 0.0


class DrainInterrupted(Exception):
    """The drain was stopped; ``results`` says where each VM stands."""

    def __init__(self, results):
        super().__init__('drain interrupted')
        self.results = results


class NoProgress:
    """The progress interface (see nova_ha.maintenance.progress)."""

    def begin(self, host, items):
        pass

    def moving(self, item):
        pass

    def done(self, result):
        pass

    def end(self):
        pass


@dataclasses.dataclass
class _Move:
    item: plan.DrainItem
    started: float
    lock: object
    confirming: bool = False


class Drain:

    def __init__(self, nova, host, settings=DrainSettings(), locks=None,
                 progress=None, sleep=time.sleep, monotonic=time.monotonic):
        self.nova = nova
        self.host = host
        self.settings = settings
        self.locks = locks
        self.progress = progress or NoProgress()
        self.sleep = sleep
        self.monotonic = monotonic
        self._results = {}

    def run(self, items):
        """Move ``items`` (a plan); returns a DrainResult per item, in plan
        order.  DrainInterrupted on KeyboardInterrupt."""
        self._results = {}
        queue = collections.deque()
        flying = {}
        self.progress.begin(self.host, items)
        try:
            for item in items:
                if item.action == plan.SKIP:
                    self._finish(item, SKIPPED, detail=item.reason)
                else:
                    queue.append(item)
            while queue or flying:
                while queue and len(flying) < self.settings.max_concurrent:
                    move = self._start(queue.popleft())
                    if move is not None:
                        flying[move.item.id] = move
                for move in list(flying.values()):
                    if self._check(move):
                        del flying[move.item.id]
                if flying:
                    self.sleep(self.settings.poll_interval)
        except KeyboardInterrupt:
            for move in flying.values():
                if move.item.id in self._results:
                    continue    # finished as the interrupt came
                self._finish(move.item, INTERRUPTED, lock=move.lock,
                             started=move.started,
                             detail='Nova is still moving it; run '
                                    '"maintenance enter" again to follow '
                                    'up')
            flying.clear()
            for item in queue:
                self._finish(item, NOT_STARTED,
                             detail='run "maintenance enter" again')
            raise DrainInterrupted(self._ordered(items)) from None
        finally:
            for move in flying.values():
                _release(move.lock)
            self.progress.end()
        return self._ordered(items)

    def _ordered(self, items):
        return [self._results[item.id] for item in items
                if item.id in self._results]

    def _start(self, item):
        lock = None
        if self.locks is not None:
            lock = self.locks.try_lock(VM_LOCK % item.id)
            if lock is None:
                self._finish(item, SKIPPED, detail='nova-ha-engine is '
                             'acting on it (its VM lock is held)')
                return None
        started = self.monotonic()
        try:
            if not item.resume:
                if item.action == plan.LIVE:
                    self.nova.live_migrate(item.id)
                elif item.action == plan.COLD:
                    self.nova.cold_migrate(item.id)
        except NovaError as e:
            self._finish(item, FAILED, lock=lock, started=started,
                         detail=str(e))
            return None
        except KeyboardInterrupt:
            self._finish(item, INTERRUPTED, lock=lock, started=started,
                         detail='interrupted while asking Nova to move it; '
                                'run "maintenance enter" again')
            raise
        self.progress.moving(item)
        return _Move(item, started, lock)

    def _check(self, move):
        """Look at one moving VM; True when it is finished."""
        item = move.item
        elapsed = self.monotonic() - move.started
        try:
            server = self.nova.server_or_none(item.id)
        except NovaError as e:
            # Nova's API hiccups: the move itself goes on, and the
            # deadline still bounds the wait.
            LOG.warning('could not read %s (%s); still waiting', item.id, e)
            if elapsed <= self.settings.migration_timeout:
                return False
            self._finish(item, FAILED, lock=move.lock, started=move.started,
                         detail='Nova could not be asked about it: %s' % e)
            return True
        seen = plan.observe(item.action, move.confirming, self.host, server,
                            elapsed, self.settings.migration_timeout)
        if seen.state == plan.MOVING:
            return False
        if seen.state == plan.CONFIRM_NOW:
            try:
                self.nova.confirm_migration(item.id)
            except NovaError as e:
                self._finish(item, FAILED, lock=move.lock,
                             started=move.started, detail=str(e))
                return True
            move.confirming = True
            return False
        if seen.state == plan.MOVED:
            self._finish(item, MOVED, lock=move.lock, started=move.started,
                         target=seen.target)
        elif seen.state == plan.GONE:
            self._finish(item, GONE, lock=move.lock, started=move.started,
                         detail=seen.reason)
        else:
            detail = seen.reason
            why = self.nova.move_failure_detail(item.id)
            if why:
                detail = '%s: %s' % (detail, why)
            self._finish(item, FAILED, lock=move.lock, started=move.started,
                         detail=detail)
        return True

    def _finish(self, item, outcome, *, lock=None, started=None, target='',
                detail=''):
        _release(lock)
        seconds = 0.0 if started is None else self.monotonic() - started
        result = DrainResult(item, outcome, target or '', detail, seconds)
        self._results[item.id] = result
        self.progress.done(result)


def _release(lock):
    if lock is None:
        return
    try:
        lock.release()
    except Exception as e:   # the lock service went away: tooz expires it
        LOG.warning('could not release a VM lock: %s', e)
