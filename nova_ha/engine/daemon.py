"""The engine's loop in nova-ha-engine: a thread around ``Replica.tick``.

It wakes on every event (``wake``, after ``min_gap``), on Nova's news of
a move (``news``, after ``news_gap``), on every result of an action (at
once), and at the latest when the core asks (at least every reconcile
interval).  Side
effects run on two bounded pools: evacuation requests on their own
(``request_workers``: one at a time, Nova finishes them in priority
order), everything else on ``workers``.  Each call they make is bounded by
its client's timeout, so a hung dependency comes back as a failed result
(an observation), never as a stuck loop.

Leases live only by the loop's progress: each look renews them, and so
does the loop while it waits between looks (every ``renew_every``
seconds, a fraction of the lease time), never another thread.  A loop
stuck in a look loses them, and a worker refuses to start a guarded
action whose lease may lapse before the action ends (checked when the
worker picks it up, not when it was queued).
"""

import concurrent.futures
import math
import threading
import time

from oslo_log import log as logging

from nova_ha.engine import env as engine_env
from nova_ha.engine import model
from nova_ha.engine import replica as engine_replica

LOG = logging.getLogger(__name__)


class Daemon:

    def __init__(self, env, settings, workers=8, request_workers=1,
                 clock=time.time, min_gap=0.3, news_gap=1.0,
                 renew_every=None):
        self.env = env
        self.settings = settings
        self._clock = clock
        self._wake = threading.Event()
        self._urgent = threading.Event()
        self._answered = threading.Event()
        self._stop = threading.Event()
        # Re-entrant: an action that ends before its callback is attached
        # delivers its result in the thread that submitted it (the loop's).
        self._lock = threading.RLock()
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max(1, workers), thread_name_prefix='nova-ha-action')
        self._requests = concurrent.futures.ThreadPoolExecutor(
            max(1, request_workers), thread_name_prefix='nova-ha-evacuate')
        self.replica = engine_replica.Replica(env, settings, self._submit)
        self._thread = None
        self.ticks = 0
        # Events that arrive close together are taken in one look: each
        # look reads Nova, whose API the rebuilds need too.  Answers to
        # our own actions are taken at once; Nova's news of moves (which
        # come one per VM while a host's VMs move) wait longer, so that
        # one look follows several of them.
        self.min_gap = min_gap
        self.news_gap = max(min_gap, news_gap)
        # Seconds between renewals of the leases while the loop waits
        # (None: only each look renews them, for leases without a TTL).
        self.renew_every = renew_every
        self._renewed_at = -math.inf      # monotonic

    def _submit(self, action):
        pool = self._requests if isinstance(action, model.Evacuate) \
            else self._pool
        # Checked (replica.check_action) and run in the worker, when it
        # picks the action up: it may have waited behind others since it
        # was queued, and its lease must still last as long as it may.
        future = pool.submit(engine_replica.run_action, self.env, action)
        future.add_done_callback(self._done)

    def _done(self, future):
        if future.cancelled():
            return          # never sent: stopping (see stop)
        result = future.result()
        if not result.ok:
            LOG.warning('%s failed: %s', result.action.id, result.error)
        with self._lock:
            self.replica.deliver(result)
        if result.ok and isinstance(result.action, model.Evacuate):
            # Nothing to decide on an accepted request: the move's news
            # (a notification, or the next look) is what matters.
            return
        self._answered.set()
        self._wake.set()

    def wake(self):
        """Look again now (an event arrived)."""
        self._urgent.set()
        self._wake.set()

    def news(self):
        """Nova's news of a move: look again within ``news_gap``."""
        self._wake.set()

    def tick(self):
        """One look (tests call it directly); when to look again."""
        # Each look renews the leases (taken before: never later than the
        # renewals themselves).
        self._renewed_at = time.monotonic()
        with self._lock:
            wake_at = self.replica.tick(self._clock())
            looks = 1
            while self.replica.wants_another_look and looks < 10:
                wake_at = self.replica.tick(self._clock())
                looks += 1
            self.ticks += looks
        return wake_at

    def run(self):
        while not self._stop.is_set():
            try:
                wake_at = self.tick()
            except Exception:
                # A bug in one look must not end the engine: record it
                # and look again after a pause.
                LOG.exception('engine loop failed; looking again')
                wake_at = self._clock() + 1.0
            looked = self._clock()
            woken = self._wait(wake_at)
            self._wake.clear()
            if not woken:
                continue        # the core's own timer: look now
            if self._answered.is_set():
                # An action of ours answered: the recovery goes on at once.
                self._answered.clear()
                continue
            urgent = self._urgent.is_set()
            self._urgent.clear()
            gap = (self.min_gap if urgent else self.news_gap) - (
                self._clock() - looked)
            if gap > 0 and not self._stop.is_set():
                self._stop.wait(gap)

    def _wait(self, wake_at):
        """Wait for an event until ``wake_at`` (the core's clock),
        renewing the leases whenever they are due first; True when an
        event came."""
        while True:
            left = wake_at - self._clock()
            renew_in = self._renew_due() - time.monotonic()
            if renew_in >= left:
                return self._wake.wait(max(0.0, left))
            if self._wake.wait(max(0.0, renew_in)):
                return True
            self.renew_leases()

    def _renew_due(self):
        if self.renew_every is None or self._stop.is_set() or \
                not self.replica.state.incidents:
            return math.inf
        return self._renewed_at + self.renew_every

    def renew_leases(self):
        """Renew the lease of every incident this replica owns; one that
        is lost makes the loop look at once (the look finds it lost and
        stops acting on it)."""
        self._renewed_at = time.monotonic()
        owned = sorted((key, incident.token) for key, incident
                       in self.replica.state.incidents.items())
        lost = [key for key, token in owned if not self._renew(key, token)]
        if lost:
            LOG.warning('lost the lease of %s', ', '.join(lost))
            self.wake()

    def _renew(self, key, token):
        try:
            return self.env.renew(key, token)
        except engine_env.Unavailable as e:
            LOG.warning('could not renew the lease of %s: %s', key, e)
            return False

    def start(self):
        self._thread = threading.Thread(target=self.run,
                                        name='nova-ha-engine-loop',
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=30.0):
        """Stop looking, let running actions finish, give the leases up
        (a survivor takes the incidents over at once).  Evacuation
        requests not yet sent are dropped: the survivor reads Nova's
        records and asks for what was never asked."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._requests.shutdown(wait=True, cancel_futures=True)
        self._pool.shutdown(wait=True)
        for key in sorted(self.replica.state.incidents):
            try:
                self.env.release(key)
            except Exception as e:
                LOG.warning('could not release %s: %s', key, e)
