"""The monitor's publisher signs what it sends with the host's key, and
what it sends passes the engine's signature check."""

import datetime
import os
import tempfile
import threading
import unittest
import uuid

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_utils import timeutils

from nova_ha import conf as ha_conf
from nova_ha.compute_hooks import publisher as publisher_lib
from nova_ha.notifier import events
from nova_ha.notifier import listener
from nova_ha.notifier import signing

HOST = 'compute-7'
KEY = '0c9d2f4b6a8e1c3d5f7a9b0c2d4e6f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e'
OTHER_KEY = 'a-different-key-of-another-host'
VM = '2f1c2a83-5d51-4b57-9e69-5f1d1a0c6a11'


class FakeNotifier:
    """Records what the publisher hands to oslo.messaging."""

    def __init__(self):
        self.sent = []

    def info(self, ctxt, event_type, payload):
        self.sent.append((event_type, payload))


def engine_check(event_type, payload, publisher=None, keys=None,
                 required=True):
    return signing.check(
        event_type, payload,
        publisher or signing.monitor_publisher_id(HOST),
        {HOST: KEY} if keys is None else keys, required,
        timeutils.utcnow(True), 300)


class TestSigningPublisher(unittest.TestCase):

    def setUp(self):
        self.notifier = FakeNotifier()
        self.publisher = publisher_lib.EventPublisher(
            self.notifier, HOST, 'libvirt', key=KEY)

    def test_every_event_type_is_signed_and_accepted(self):
        self.publisher.publish(events.HOST_DOWN)
        self.publisher.publish(events.HOST_UP, detail='back')
        self.publisher.publish(events.VM_FAILURE, instance=VM,
                               cause='watchdog')
        self.publisher.publish(events.PROCESS_DOWN, process='libvirtd')
        self.publisher.publish(events.PROCESS_UP, process='nova-compute')
        self.assertEqual(5, len(self.notifier.sent))
        for event_type, payload in self.notifier.sent:
            with self.subTest(event_type):
                self.assertTrue(payload['signature'].startswith(
                    'hmac-sha256:'))
                self.assertIsNone(engine_check(event_type, payload))
                self.assertIsInstance(events.parse_monitor_event(
                    event_type, payload, timeutils.utcnow(True)),
                    events.Event)

    def test_returned_payload_is_the_signed_one(self):
        returned = self.publisher.publish(events.VM_FAILURE, instance=VM,
                                          cause='crashed')
        self.assertEqual([(events.VM_FAILURE, returned)], self.notifier.sent)
        self.assertIn('signature', returned)

    def test_signature_is_of_the_sent_event_type(self):
        payload = self.publisher.publish(events.HOST_UP)
        self.assertIsNone(engine_check(events.HOST_UP, payload))
        self.assertEqual('bad signature',
                         engine_check(events.HOST_DOWN, payload))

    def test_engine_with_another_key_refuses(self):
        payload = self.publisher.publish(events.HOST_DOWN)
        self.assertEqual('bad signature', engine_check(
            events.HOST_DOWN, payload, keys={HOST: OTHER_KEY}))

    def test_retry_with_same_id_and_time_is_signed_alike(self):
        at = timeutils.utcnow(True).isoformat()
        first = self.publisher.publish(events.HOST_DOWN, id='r1', at=at)
        again = self.publisher.publish(events.HOST_DOWN, id='r1', at=at)
        self.assertEqual(first, again)

    def test_with_source_keeps_the_key(self):
        other = self.publisher.with_source('process-monitor')
        payload = other.publish(events.PROCESS_DOWN, process='nova-compute')
        self.assertEqual('process-monitor', payload['source'])
        self.assertIsNone(engine_check(events.PROCESS_DOWN, payload))

    def test_invalid_event_is_refused_before_signing(self):
        with self.assertRaises(publisher_lib.InvalidMonitorEvent):
            self.publisher.publish(events.VM_FAILURE, instance='nope',
                                   cause='crashed')
        self.assertEqual([], self.notifier.sent)

    def test_key_never_in_repr_or_log(self):
        self.assertNotIn(KEY, repr(self.publisher))
        self.assertNotIn(KEY[:16], repr(self.publisher))
        self.assertIn('signed=True', repr(self.publisher))
        with self.assertLogs('nova_ha.compute_hooks.publisher',
                             'DEBUG') as logs:
            self.publisher.publish(events.VM_FAILURE, instance=VM,
                                   cause='crashed')
            self.publisher.with_source('x').publish(events.HOST_DOWN)
        self.assertTrue(logs.output)
        for line in logs.output:
            self.assertNotIn(KEY[:16], line)

    def test_without_key_nothing_is_signed(self):
        for key in (None, ''):
            notifier = FakeNotifier()
            publisher = publisher_lib.EventPublisher(notifier, HOST,
                                                     'libvirt', key=key)
            payload = publisher.publish(events.HOST_DOWN)
            with self.subTest(key=key):
                self.assertNotIn('signature', payload)
                self.assertIn('signed=False', repr(publisher))
                self.assertEqual('unsigned event',
                                 engine_check(events.HOST_DOWN, payload))
                self.assertIsNone(engine_check(events.HOST_DOWN, payload,
                                               required=False))


class Recorder:
    """The engine's place behind the real listeners, keeping publishers."""

    def __init__(self):
        self.monitor = []
        self.cond = threading.Condition()

    def submit_nova_notification(self, event_type, payload, publisher=None):
        pass

    def submit_monitor_message(self, event_type, payload, publisher=None):
        with self.cond:
            self.monitor.append((event_type, payload, publisher))
            self.cond.notify_all()

    def wait(self, count, timeout=20):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.monitor) >= count,
                                      timeout):
                raise AssertionError('timed out: %d of %d messages' % (
                    len(self.monitor), count))
            return list(self.monitor)


class TestFromConf(unittest.TestCase):
    """from_conf on fake://: [monitor] event_key on the host side, the same
    key in [event_signing] host_keys on the engine side."""

    def conf(self, text):
        with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                         delete=False) as f:
            f.write(text)
        self.addCleanup(os.unlink, f.name)
        conf = cfg.ConfigOpts()
        for module in ha_conf._MODULES:
            module.register_opts(conf)
        conf(['--config-file', f.name], project='nova-ha-test',
             default_config_files=[], default_config_dirs=[])
        return conf

    def listen(self, conf):
        recorder = Recorder()
        transport = messaging.get_notification_transport(conf)
        listeners = listener.build_listeners(
            transport, recorder, 'nova_unused_' + uuid.uuid4().hex[:8],
            conf.engine.monitor_topic)
        for item in listeners:
            item.start()

        def close():
            for item in listeners:
                item.stop()
            for item in listeners:
                item.wait()
            transport.cleanup()
        self.addCleanup(close)
        return recorder

    def test_monitor_signs_with_event_key_and_engine_accepts(self):
        topic = 'nova_ha_test_signing_' + uuid.uuid4().hex[:8]
        conf = self.conf(
            '[DEFAULT]\ntransport_url = fake://\n'
            '[engine]\nmonitor_topic = %s\n'
            '[monitor]\nhost = %s\nevent_key = %s\n'
            '[event_signing]\nrequired = true\n'
            'host_keys = compute-1:%s,%s:%s\n'
            % (topic, HOST, KEY, OTHER_KEY, HOST, KEY))
        recorder = self.listen(conf)
        publisher = publisher_lib.from_conf(conf, conf.monitor.host,
                                            'process-monitor')
        self.assertNotIn(KEY, repr(publisher))
        publisher.publish(events.PROCESS_DOWN, process='nova-compute')
        publisher.with_source('libvirt').publish(
            events.VM_FAILURE, instance=VM, cause='io_error')
        received = recorder.wait(2)
        self.assertEqual([events.PROCESS_DOWN, events.VM_FAILURE],
                         [event_type for event_type, _, _ in received])
        now = datetime.datetime.now(datetime.timezone.utc)
        for event_type, payload, publisher_id in received:
            with self.subTest(event_type):
                self.assertEqual('nova-ha-monitor.' + HOST, publisher_id)
                self.assertIsNone(signing.check(
                    event_type, payload, publisher_id,
                    conf.event_signing.host_keys,
                    conf.event_signing.required, now,
                    conf.event_signing.max_age))
                # The engine with another key for this host refuses it.
                self.assertEqual('bad signature', signing.check(
                    event_type, payload, publisher_id,
                    {HOST: OTHER_KEY}, True, now, 300))

    def test_defaults_sign_nothing_but_require_signatures(self):
        # A monitor has no key until one is provisioned for its host; the
        # engine refuses unsigned events unless told otherwise.
        conf = self.conf('[DEFAULT]\ntransport_url = fake://\n')
        self.assertIsNone(conf.monitor.event_key)
        self.assertTrue(conf.event_signing.required)
        self.assertEqual({}, conf.event_signing.host_keys)
        self.assertEqual(300.0, conf.event_signing.max_age)
        publisher = publisher_lib.from_conf(conf, HOST, 'libvirt')
        self.assertFalse(publisher.signed)

    def test_keys_are_secret_options(self):
        for opts, name in ((ha_conf.monitor.OPTS, 'event_key'),
                           (ha_conf.signing.OPTS, 'host_keys')):
            with self.subTest(name):
                self.assertEqual([True], [opt.secret for opt in opts
                                          if opt.name == name])
