"""Outbox: failures waiting to be published, and the thread publishing them.

libvirt calls the monitor from its event loop thread, which must never
block (it also carries keepalives and the other callbacks), while
publishing can block for as long as the broker is down (oslo.messaging
retries).  So callbacks only ``put`` into the outbox, and one thread
publishes, in order, retrying with back-off what the bus refused: an event
is never dropped while the service runs.  Each report keeps its id and
observation time across retries, so the engine can drop a replay.
"""

import collections
import datetime
import threading
import uuid

from oslo_log import log as logging

from nova_ha.compute_hooks import publisher as publisher_lib

LOG = logging.getLogger(__name__)


class Outbox:
    """Publish ``(event_type, fields)`` reports through an EventPublisher.

    :param publisher: nova_ha.compute_hooks.publisher.EventPublisher
    :param retry_interval_max: longest wait between two attempts
    :param retry_interval_min: first wait (doubled after each refusal)
    """

    def __init__(self, publisher, retry_interval_max=30.0,
                 retry_interval_min=0.5):
        self._publisher = publisher
        self._retry_min = min(retry_interval_min, retry_interval_max)
        self._retry_max = retry_interval_max
        self._pending = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = None
        self.published = 0

    def put(self, event_type, **fields):
        """Queue one report; never blocks.  Returns its id."""
        fields.setdefault('id', str(uuid.uuid4()))
        fields.setdefault('at', datetime.datetime.now(
            datetime.timezone.utc).isoformat())
        with self._cond:
            self._pending.append((event_type, fields))
            self._cond.notify_all()
        return fields['id']

    def start(self):
        with self._cond:
            self._stopping = False
        self._thread = threading.Thread(target=self._run,
                                        name='nova-ha-libvirt-outbox',
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout=5.0):
        """Stop after the report being published (if any); what is still
        waiting is logged, as it will not reach the engine."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._cond:
            left = list(self._pending)
        if left:
            LOG.warning('stopping with %d VM failure report(s) not '
                        'published: %s', len(left), '; '.join(
                            '%s %s (%s)' % (t, f.get('instance'),
                                            f.get('cause'))
                            for t, f in left))

    def wait_empty(self, timeout=None):
        """True once everything queued was published (or dropped as
        malformed)."""
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending, timeout)

    def __len__(self):
        with self._cond:
            return len(self._pending)

    def _next(self):
        with self._cond:
            self._cond.wait_for(lambda: self._pending or self._stopping)
            if self._stopping:
                return None
            return self._pending[0]

    def _done(self):
        with self._cond:
            self._pending.popleft()
            self._cond.notify_all()

    def _sleep(self, seconds):
        """Wait, but come back at once when stopping; False then."""
        with self._cond:
            return not self._cond.wait_for(lambda: self._stopping, seconds)

    def _run(self):
        while True:
            item = self._next()
            if item is None:
                return
            event_type, fields = item
            interval = self._retry_min
            while True:
                try:
                    self._publisher.publish(event_type, **fields)
                    self.published += 1
                    break
                except publisher_lib.InvalidMonitorEvent:
                    # A bug in the monitor, not a bus problem: retrying
                    # cannot help.
                    LOG.exception('dropping a malformed report: %s %s',
                                  event_type, fields)
                    break
                except Exception as exc:
                    LOG.warning('could not publish %s for %s (%s); retrying '
                                'in %.1f s', event_type,
                                fields.get('instance'), exc, interval)
                    if not self._sleep(interval):
                        return
                    interval = min(interval * 2, self._retry_max)
            self._done()
