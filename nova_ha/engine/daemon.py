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
"""

import concurrent.futures
import threading
import time

from oslo_log import log as logging

from nova_ha.engine import model
from nova_ha.engine import replica as engine_replica

LOG = logging.getLogger(__name__)


class Daemon:

    def __init__(self, env, settings, workers=8, request_workers=1,
                 clock=time.time, min_gap=0.3, news_gap=1.0):
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

    def _submit(self, action):
        pool = self._requests if isinstance(action, model.Evacuate) \
            else self._pool
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
            woken = self._wake.wait(max(0.0, wake_at - looked))
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
