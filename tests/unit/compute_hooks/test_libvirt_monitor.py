"""LibvirtEventMonitor on libvirt's ``test:///default`` driver.

Real: the libvirt binding and its event loop, the test driver (in-process,
shared by every connection of the process: the monitor's read-only one and
the test's read-write one), oslo.messaging (``fake://``) with the engine's
listener.  The test driver emits lifecycle events for define, create,
suspend, resume, shutdown and destroy, but cannot make a guest crash nor
its connection drop: for those, the tests call the monitor's callbacks as
libvirt's event loop would (with the driver's real domain objects).  The
real crash and the real libvirtd restart are in
tests/integration/compute_hooks/test_qemu_crash.py.
"""

import time
import uuid

import pytest

# libvirt-python is not in the fast tier's light install (it builds only
# against libvirt-dev): skip there, run everywhere else.  The test driver
# (test:///default) runs in-process: no libvirtd.
libvirt = pytest.importorskip('libvirt')

from nova_ha.compute_hooks import libvirt_monitor
from tests.integration.services import wait_until
from tests.unit.compute_hooks import harness

URI = 'test:///default'

DOMAIN_XML = """<domain type='test'>
  <name>{name}</name><uuid>{uuid}</uuid>
  <memory unit='MiB'>64</memory><vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
</domain>"""


class MonitorTestCase(harness.TopicTestCase):

    def setUp(self):
        self.conn = libvirt.open(URI)
        self.addCleanup(self.conn.close)

    def start_monitor(self, uri=URI, **overrides):
        overrides.setdefault('reconnect_interval', 0.05)
        monitor = libvirt_monitor.LibvirtEventMonitor(
            harness.monitor_conf(uri, **overrides), self.topic.publisher)
        monitor.start()
        self.addCleanup(monitor.stop)
        return monitor

    def domain(self):
        """A new persistent domain of the test driver, running."""
        name = 'nova-ha-%s' % uuid.uuid4().hex[:8]
        domain = self.conn.defineXML(DOMAIN_XML.format(
            name=name, uuid=uuid.uuid4()))
        self.addCleanup(self._remove, domain)
        domain.create()
        return domain

    @staticmethod
    def _remove(domain):
        if domain.isActive():
            domain.destroy()
        domain.undefine()

    def wait_condition(self, monitor, domain, condition):
        wait_until(lambda: monitor.condition(domain.UUIDString()) ==
                   condition, 10, '%s %s' % (domain.name(), condition))

    def reported(self, monitor, vm):
        """The failures of ``vm`` on the topic once everything the monitor
        queued was published and delivered."""
        self.assertTrue(monitor.outbox.wait_empty(10))
        self.topic.flush()
        return self.topic.failures(vm)

    def crash(self, monitor, domain):
        """What libvirt's event loop calls when QEMU dies unasked."""
        monitor._on_lifecycle(self.conn, domain,
                              libvirt.VIR_DOMAIN_EVENT_STOPPED,
                              libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED, None)


class TestEventsFromTheTestDriver(MonitorTestCase):

    def test_operations_asked_for_are_followed_and_not_reported(self):
        monitor = self.start_monitor()
        self.assertTrue(monitor.wait_connected(10))
        domain = self.domain()
        vm = domain.UUIDString()
        self.wait_condition(monitor, domain, 'running')
        for operation, condition in (
                (domain.suspend, 'paused:paused'), (domain.resume, 'running'),
                (domain.shutdown, 'shutoff:shutdown'),
                (domain.create, 'running'),
                (domain.destroy, 'shutoff:destroyed'),
                (domain.create, 'running')):
            operation()
            self.wait_condition(monitor, domain, condition)
        # A failure afterwards is the only report: the bus is in order, so
        # had any of the operations above been reported, it would be too.
        self.crash(monitor, domain)
        self.assertEqual(['stopped_failed'],
                         [e.cause for e in self.reported(monitor, vm)])

    def test_failure_reaches_the_engine_topic_once(self):
        monitor = self.start_monitor()
        self.assertTrue(monitor.wait_connected(10))
        domain = self.domain()
        vm = domain.UUIDString()
        self.wait_condition(monitor, domain, 'running')
        self.crash(monitor, domain)
        self.crash(monitor, domain)   # a repeat is the same failure
        [event] = self.reported(monitor, vm)
        self.assertEqual((vm, 'stopped_failed', harness.HOST, 'libvirt'),
                         (event.instance, event.cause, event.host,
                          event.source))
        self.assertIn(domain.name(), event.detail)
        self.assertIn('STOPPED/FAILED', event.detail)
        # Started again by the engine: a new failure is a new report.
        domain.destroy()
        domain.create()
        self.wait_condition(monitor, domain, 'running')
        self.crash(monitor, domain)
        self.assertEqual(2, len(self.reported(monitor, vm)))

    def test_io_error_reason_reaches_the_engine(self):
        monitor = self.start_monitor()
        self.assertTrue(monitor.wait_connected(10))
        domain = self.domain()
        monitor._on_io_error(self.conn, domain, '/var/lib/nova/disk',
                             'virtio-disk0',
                             libvirt.VIR_DOMAIN_EVENT_IO_ERROR_PAUSE,
                             'enospc', None)
        [event] = self.reported(monitor, domain.UUIDString())
        self.assertEqual('io_error', event.cause)
        self.assertIn('virtio-disk0 (/var/lib/nova/disk): enospc',
                      event.detail)

    def test_failure_kinds_left_out_are_not_reported(self):
        monitor = self.start_monitor(failure_events=['crashed'])
        self.assertTrue(monitor.wait_connected(10))
        domain = self.domain()
        self.wait_condition(monitor, domain, 'running')
        with self.assertLogs('nova_ha.compute_hooks.libvirt_monitor',
                             'INFO') as logs:
            self.crash(monitor, domain)
        self.assertIn('stopped-failed, not reported: stopped-failed is not '
                      'in [libvirt_monitor] failure_events',
                      '\n'.join(logs.output))
        self.assertEqual([], self.reported(monitor, domain.UUIDString()))

    def test_a_broken_callback_does_not_stop_the_monitor(self):
        monitor = self.start_monitor()
        self.assertTrue(monitor.wait_connected(10))
        with self.assertLogs('nova_ha.compute_hooks.libvirt_monitor',
                             'ERROR'):
            monitor._on_lifecycle(self.conn, None, 5, 5, None)
        domain = self.domain()
        self.wait_condition(monitor, domain, 'running')


class TestConnection(MonitorTestCase):

    def test_unreachable_libvirtd_is_retried_and_stop_is_prompt(self):
        with self.assertLogs('nova_ha.compute_hooks.libvirt_monitor',
                             'WARNING') as logs:
            monitor = self.start_monitor(
                'qemu+unix:///system?socket=/nonexistent/libvirt-sock')
            self.assertFalse(monitor.wait_connected(0.5))
        attempts = [line for line in logs.output
                    if 'cannot watch libvirt' in line]
        self.assertGreater(len(attempts), 1)   # retried, with back-off
        started = time.monotonic()
        monitor.stop()
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertFalse(monitor.connected)

    def test_lost_connection_is_reopened_and_events_flow_again(self):
        """The test driver's connection cannot drop: the close callback is
        fired as libvirt fires it when libvirtd exits."""
        monitor = self.start_monitor()
        self.assertTrue(monitor.wait_connected(10))
        domain = self.domain()
        self.wait_condition(monitor, domain, 'running')
        with monitor._cond:
            session = monitor._session
        monitor._on_close(None, libvirt.VIR_CONNECT_CLOSE_REASON_EOF,
                          session)
        self.assertTrue(monitor.wait_connected(10, connections=2))
        domain.destroy()
        self.wait_condition(monitor, domain, 'shutoff:destroyed')
        domain.create()
        self.wait_condition(monitor, domain, 'running')
        self.crash(monitor, domain)
        self.assertEqual(1, len(self.reported(monitor, domain.UUIDString())))

    def test_stopped_monitor_hears_nothing(self):
        monitor = self.start_monitor()
        self.assertTrue(monitor.wait_connected(10))
        domain = self.domain()
        self.wait_condition(monitor, domain, 'running')
        monitor.stop()
        self.assertFalse(monitor.connected)
        domain.destroy()
        # Another monitor, still subscribed, sees the destroy: by then the
        # stopped one would have too, had it still been subscribed.
        witness = self.start_monitor()
        self.assertTrue(witness.wait_connected(10))
        domain.create()
        domain.destroy()
        self.wait_condition(witness, domain, 'shutoff:destroyed')
        self.assertEqual('running', monitor.condition(domain.UUIDString()))

    def test_second_start_is_refused(self):
        monitor = self.start_monitor()
        with self.assertRaises(RuntimeError):
            monitor.start()
