"""The engine's listeners over a real RabbitMQ (127.0.0.1:5672).

The broker, oslo.messaging's rabbit driver and the listeners are real; the
engine is a recorder (its flows are tested against Nova in
tests/functional/notifier), because this test is about the transport.
"""

import threading
import time
import unittest
import uuid

from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.notifier import events
from nova_ha.notifier import listener
from tests.integration import services

URL = services.RABBIT_URL


class Recorder:
    def __init__(self):
        self.nova, self.monitor = [], []
        self.cond = threading.Condition()

    def submit_nova_notification(self, event_type, payload, publisher=None):
        with self.cond:
            self.nova.append((event_type, payload))
            self.cond.notify_all()

    def submit_monitor_message(self, event_type, payload, publisher=None):
        with self.cond:
            self.monitor.append((event_type, payload))
            self.cond.notify_all()

    def wait(self, predicate, timeout=20):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout):
                raise AssertionError('timed out: nova=%d monitor=%d' % (
                    len(self.nova), len(self.monitor)))


class TestListenerOverRabbit(unittest.TestCase):

    def setUp(self):
        services.require('RabbitMQ', services.RABBITMQ)
        self.conf = cfg.ConfigOpts()
        self.conf([], project='nova-ha-test')
        self.transport = messaging.get_notification_transport(self.conf,
                                                              url=URL)
        suffix = uuid.uuid4().hex[:8]
        self.nova_topic = 'nova_ha_it_nova_' + suffix
        self.monitor_topic = 'nova_ha_it_mon_' + suffix
        self.recorder = Recorder()
        self.listeners = listener.build_listeners(
            self.transport, self.recorder, self.nova_topic,
            self.monitor_topic)
        for item in self.listeners:
            item.start()
        self.addCleanup(self._stop)

    def _stop(self):
        for item in self.listeners:
            item.stop()
        for item in self.listeners:
            item.wait()
        self.transport.cleanup()

    def test_monitor_events_and_filtered_nova_notifications_arrive(self):
        monitor = listener.monitor_notifier(self.transport,
                                            self.monitor_topic, 'mon.c1')
        payload = events.monitor_payload(events.HOST_DOWN, 'c1')
        monitor.info({}, events.HOST_DOWN, payload)
        nova = messaging.Notifier(self.transport, 'nova-compute:c1',
                                  driver='messagingv2',
                                  topics=[self.nova_topic])
        for i in range(20):
            nova.info({}, 'instance.update', {'n': i})   # filtered out
        nova.info({}, 'instance.power_off.end', {'nova_object.data': {}})
        self.recorder.wait(lambda: self.recorder.monitor and
                           self.recorder.nova)
        time.sleep(0.5)   # would any filtered message slip through?
        self.assertEqual([(events.HOST_DOWN, payload)], self.recorder.monitor)
        self.assertEqual(['instance.power_off.end'],
                         [t for t, _ in self.recorder.nova])
