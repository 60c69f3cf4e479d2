"""The outbox between libvirt's callbacks and the bus: in order, never
blocking the caller, retrying what the bus refused, keeping each report's
id and time across retries.  The bus is oslo.messaging's in-process
``fake://`` transport with the engine's real listener."""

import threading
import uuid

import oslo_messaging as messaging

from nova_ha.compute_hooks import libvirt_outbox
from nova_ha.compute_hooks import publisher as publisher_lib
from nova_ha.notifier import events
from nova_ha.notifier import listener
from tests.unit.compute_hooks import harness


class RefusingNotifier:
    """The real notifier behind a broker that refuses the first
    ``refusals`` sends (a broker outage cannot be staged on fake://), or
    blocks every send until ``gate`` is set."""

    def __init__(self, real, refusals=0, gate=None):
        self.real = real
        self.refusals = refusals
        self.gate = gate
        self.attempts = 0

    def info(self, ctxt, event_type, payload):
        self.attempts += 1
        if self.gate is not None:
            self.gate.wait()
        if self.attempts <= self.refusals:
            raise messaging.MessageDeliveryFailure('broker refused')
        self.real.info(ctxt, event_type, payload)


class TestOutbox(harness.TopicTestCase):

    def setUp(self):
        self.vms = [str(uuid.uuid4()) for _ in range(5)]

    def outbox(self, notifier=None, **kwargs):
        publisher = self.topic.publisher if notifier is None else \
            publisher_lib.EventPublisher(notifier, harness.HOST, 'libvirt')
        box = libvirt_outbox.Outbox(publisher, **kwargs)
        box.start()
        self.addCleanup(box.stop)
        return box

    def real_notifier(self):
        return listener.monitor_notifier(self.topic.transport,
                                         self.topic.topic, 'test')

    def test_reports_arrive_in_order_with_their_fields(self):
        box = self.outbox()
        ids = [box.put(events.VM_FAILURE, instance=vm, cause='crashed',
                       detail='domain %d' % i)
               for i, vm in enumerate(self.vms)]
        received = self.topic.wait_failures(self.vms)
        self.assertEqual(self.vms, [e.instance for e in received])
        self.assertEqual(ids, [e.id for e in received])
        self.assertEqual({('crashed', harness.HOST, 'libvirt')},
                         {(e.cause, e.host, e.source) for e in received})
        self.assertTrue(box.wait_empty(5))

    def test_refused_report_is_retried_with_same_id_and_time(self):
        notifier = RefusingNotifier(self.real_notifier(), refusals=2)
        box = self.outbox(notifier, retry_interval_max=0.05,
                          retry_interval_min=0.01)
        report_id = box.put(events.VM_FAILURE, instance=self.vms[0],
                            cause='stopped_failed',
                            at='2026-11-24T12:00:00+00:00')
        box.put(events.VM_FAILURE, instance=self.vms[1], cause='crashed')
        received = self.topic.wait_failures(self.vms[:2])
        self.assertEqual(self.vms[:2], [e.instance for e in received])
        self.assertEqual(report_id, received[0].id)
        self.assertEqual('2026-11-24T12:00:00+00:00',
                         received[0].at.isoformat())
        self.assertEqual(4, notifier.attempts)   # 2 refused + 2 sent
        self.assertEqual(2, box.published)

    def test_put_never_blocks_while_the_bus_hangs(self):
        gate = threading.Event()
        self.addCleanup(gate.set)
        box = self.outbox(RefusingNotifier(self.real_notifier(), gate=gate))
        for vm in self.vms:   # returns at once although publishing is stuck
            box.put(events.VM_FAILURE, instance=vm, cause='crashed')
        self.assertEqual(len(self.vms), len(box))
        self.assertFalse(box.wait_empty(0.2))
        gate.set()
        received = self.topic.wait_failures(self.vms)
        self.assertEqual(self.vms, [e.instance for e in received])
        self.assertTrue(box.wait_empty(5))

    def test_malformed_report_is_dropped_and_the_next_one_goes(self):
        box = self.outbox()
        with self.assertLogs('nova_ha.compute_hooks.libvirt_outbox',
                             'ERROR') as logs:
            box.put(events.VM_FAILURE, instance='not-a-uuid',
                    cause='crashed')
            box.put(events.VM_FAILURE, instance=self.vms[0], cause='crashed')
            received = self.topic.wait_failures(self.vms[0])
            self.assertEqual([self.vms[0]], [e.instance for e in received])
            self.assertTrue(box.wait_empty(5))
        self.assertIn('dropping a malformed report', logs.output[0])
        self.assertEqual([], self.topic.rejected())

    def test_stop_names_what_was_not_published(self):
        gate = threading.Event()
        box = self.outbox(RefusingNotifier(self.real_notifier(), gate=gate))
        box.put(events.VM_FAILURE, instance=self.vms[0], cause='crashed')
        box.put(events.VM_FAILURE, instance=self.vms[1], cause='watchdog')
        with self.assertLogs('nova_ha.compute_hooks.libvirt_outbox',
                             'WARNING') as logs:
            box.stop(timeout=0.2)
        gate.set()
        self.assertIn('2 VM failure report(s) not published', logs.output[0])
        self.assertIn(self.vms[1], logs.output[0])
