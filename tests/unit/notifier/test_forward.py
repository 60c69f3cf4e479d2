"""The nova_ha_forward notify driver, loaded the way Nova loads it.

Real parts: oslo.messaging's Notifier loading the driver through its
``oslo.messaging.notify.drivers`` entry point (as ``nova.rpc.init`` does
from ``[oslo_messaging_notifications] driver``), the in-process ``fake://``
transport, and the engine's own listener and parser on the far side.
"""

import datetime
import threading
import unittest
import uuid

from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.conf import engine as engine_conf
from nova_ha.notifier import events
from nova_ha.notifier import listener


def _power_off(initiator=None):
    return {'nova_object.name': 'InstanceActionPayload',
            'nova_object.data': {'uuid': str(uuid.uuid4()),
                                 'host': 'compute-1',
                                 'action_initiator_user': initiator,
                                 'request_id': None}}


class Collector:
    def __init__(self, expected):
        self.expected = expected
        self.taken = []
        self.done = threading.Event()

    def submit_nova_notification(self, event_type, payload, publisher=None):
        self.taken.append(events.parse_nova_notification(
            event_type, payload, datetime.datetime.now(
                datetime.timezone.utc), publisher))
        if len(self.taken) >= self.expected:
            self.done.set()

    submit_monitor_message = submit_nova_notification


class TestForwardDriver(unittest.TestCase):

    def setUp(self):
        self.conf = cfg.ConfigOpts()
        # Inside Nova, nova_ha.conf registers these on Nova's CONF.
        engine_conf.register_opts(self.conf)
        self.conf([], project='nova')
        # Overrides live on the module's OptGroup objects, which every
        # ConfigOpts registering them shares: undo them after the test.
        self.addCleanup(self.conf.reset)
        self.transport = messaging.get_notification_transport(
            self.conf, url='fake://')
        self.addCleanup(self.transport.cleanup)

    def _nova_notifier(self, topic):
        # What Nova builds for its versioned notifications.
        return messaging.Notifier(self.transport, 'nova-compute:compute-1',
                                  driver='nova_ha_forward', topics=[topic])

    def test_only_what_the_engine_uses_reaches_its_topic(self):
        collector = Collector(expected=3)
        listeners = listener.build_listeners(
            self.transport, collector, 'nova_ha_nova', 'unused_monitor')
        for item in listeners:
            item.start()
        self.addCleanup(lambda: [(i.stop(), i.wait()) for i in listeners])
        notifier = self._nova_notifier('versioned_notifications')
        crashed, stopped = _power_off(), _power_off(initiator='alice')
        rebuilt = {'nova_object.data': {
            'uuid': '9b1c2a83-5d51-4b57-9e69-5f1d1a0c6a22',
            'state': 'active'}}
        for i in range(300):
            notifier.info({}, 'instance.update', {'nova_object.data': {}})
            if i == 100:
                notifier.info({}, 'instance.power_off.end', crashed)
            if i == 200:
                notifier.info({}, 'instance.power_off.end', stopped)
            if i == 250:
                notifier.info({}, 'instance.rebuild.end', rebuilt)
        self.assertTrue(collector.done.wait(10))
        kinds = [(e.type, e.instance) for e in collector.taken]
        self.assertEqual(
            [(events.VM_FAILURE, crashed['nova_object.data']['uuid']),
             (events.USER_STOP, stopped['nova_object.data']['uuid']),
             (events.REBUILD_END, rebuilt['nova_object.data']['uuid'])],
            kinds)

    def test_topic_and_event_types_are_configurable(self):
        self.conf.set_override('topic', 'elsewhere',
                               group='notification_forward')
        self.conf.set_override('event_types', r'^instance\.update$',
                               group='notification_forward')
        received = []
        done = threading.Event()

        class Endpoint:
            def info(self, ctxt, publisher_id, event_type, payload,
                     metadata):
                received.append(event_type)
                done.set()

        server = messaging.get_notification_listener(
            self.transport, [messaging.Target(topic='elsewhere')],
            [Endpoint()], executor='threading')
        server.start()
        self.addCleanup(lambda: (server.stop(), server.wait()))
        notifier = self._nova_notifier('versioned_notifications')
        notifier.info({}, 'instance.power_off.end', _power_off())
        notifier.info({}, 'instance.update', {})
        self.assertTrue(done.wait(10))
        self.assertEqual(['instance.update'], received)
