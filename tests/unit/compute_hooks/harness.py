"""The engine's topic as the libvirt monitor's tests see it.

``EngineTopic`` is a real oslo.messaging transport (``fake://`` in-process
or RabbitMQ), the engine's real listeners (nova_ha.notifier.listener) with
a recorder in the engine's place, and a real EventPublisher for one host:
what a test reads is what the engine would have been handed.
"""

import unittest
import uuid

from oslo_config import cfg
import oslo_messaging as messaging
from oslo_utils import timeutils

from nova_ha import conf as ha_conf
from nova_ha.compute_hooks import publisher as publisher_lib
from nova_ha.notifier import events
from nova_ha.notifier import listener
from tests.integration.notifier.test_rabbitmq import Recorder

HOST = 'compute-7'


def monitor_conf(uri, **overrides):
    """A ConfigOpts with [libvirt_monitor] (and overrides) for ``uri``."""
    conf = cfg.ConfigOpts()
    # By group name, not the module's OptGroup object: oslo.config keeps
    # overrides in the OptGroup, which would carry them to the next conf.
    conf.register_opts(ha_conf.libvirt_monitor.OPTS,
                       group=ha_conf.libvirt_monitor.GROUP.name)
    conf([], project='nova-ha-test')
    conf.set_override('connection_uri', uri, 'libvirt_monitor')
    for name, value in overrides.items():
        conf.set_override(name, value, 'libvirt_monitor')
    return conf


class EngineTopic:

    def __init__(self, url='fake://', host=HOST):
        conf = cfg.ConfigOpts()
        conf([], project='nova-ha-test')
        self.transport = messaging.get_notification_transport(conf, url=url)
        suffix = uuid.uuid4().hex[:8]
        self.topic = 'nova_ha_test_libvirt_' + suffix
        self.recorder = Recorder()
        self.listeners = listener.build_listeners(
            self.transport, self.recorder, 'nova_unused_' + suffix,
            self.topic)
        for item in self.listeners:
            item.start()
        self.publisher = publisher_lib.EventPublisher(
            listener.monitor_notifier(self.transport, self.topic,
                                      'nova-ha-monitor.' + host),
            host, 'libvirt')

    def failures(self, instances):
        """vm.failure events received for ``instances`` (one UUID or
        several), in arrival order, parsed as the engine parses them."""
        wanted = {instances} if isinstance(instances, str) else \
            set(instances)
        with self.recorder.cond:
            received = list(self.recorder.monitor)
        parsed = [events.parse_monitor_event(t, p, timeutils.utcnow(True))
                  for t, p in received]
        return [e for e in parsed if not isinstance(e, events.Rejection) and
                e.type == events.VM_FAILURE and e.instance in wanted]

    def rejected(self):
        with self.recorder.cond:
            received = list(self.recorder.monitor)
        return [r for r in (events.parse_monitor_event(
            t, p, timeutils.utcnow(True)) for t, p in received)
            if isinstance(r, events.Rejection)]

    def wait_failures(self, instances, count=None, timeout=20):
        """Wait for ``count`` failures of ``instances`` (default: one each)
        and return them; AssertionError when they do not arrive in time."""
        if count is None:
            count = 1 if isinstance(instances, str) else len(instances)
        self.recorder.wait(lambda: len(self.failures(instances)) >= count,
                           timeout)
        return self.failures(instances)

    def flush(self, timeout=20):
        """Wait until everything published so far has arrived: a marker
        published now arrives after it (one queue, delivered in order)."""
        marker = self.publisher.publish(events.HOST_UP)['id']
        self.recorder.wait(lambda: any(
            payload.get('id') == marker
            for _, payload in self.recorder.monitor), timeout)

    def close(self):
        for item in self.listeners:
            item.stop()
        for item in self.listeners:
            item.wait()
        self.transport.cleanup()


class TopicTestCase(unittest.TestCase):
    """Tests sharing one EngineTopic on ``URL`` (closing one takes a
    second); each test tells its events apart by their instance UUIDs."""

    URL = 'fake://'

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.topic = EngineTopic(cls.URL)

    @classmethod
    def tearDownClass(cls):
        cls.topic.close()
        super().tearDownClass()
