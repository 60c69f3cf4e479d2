"""The engine's side of the monitor topic, for the monitor tests."""

import datetime
import threading

import oslo_messaging as messaging

from nova_ha.notifier import events
from nova_ha.notifier import listener


class EventRecorder:
    """A real notification listener on ``topic``; every message parsed
    with the engine's own parser, kept in arrival order."""

    def __init__(self, transport, topic):
        self.events = []
        self.rejections = []
        self._cond = threading.Condition()
        self.listener = messaging.get_notification_listener(
            transport, [messaging.Target(topic=topic)],
            [listener.MonitorEndpoint(self._submit)], executor='threading')

    def start(self):
        self.listener.start()

    def stop(self):
        self.listener.stop()
        self.listener.wait()

    def _submit(self, event_type, payload, publisher_id=None):
        parsed = events.parse_monitor_event(
            event_type, payload, datetime.datetime.now(datetime.timezone.utc))
        with self._cond:
            if isinstance(parsed, events.Rejection):
                self.rejections.append(parsed)
            else:
                self.events.append(parsed)
            self._cond.notify_all()

    def types(self):
        with self._cond:
            return [e.type for e in self.events]

    def wait_types(self, expected, timeout=15):
        """Wait until exactly ``expected`` event types have arrived."""
        with self._cond:
            if not self._cond.wait_for(
                    lambda: [e.type for e in self.events] == expected,
                    timeout):
                raise AssertionError('expected %s, got %s' % (
                    expected, [e.type for e in self.events]))
