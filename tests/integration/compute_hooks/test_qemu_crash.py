"""The libvirt monitor against a real libvirtd, real QEMU guests (TCG) and
the engine's topic on the real RabbitMQ (127.0.0.1:5672).

Nothing is simulated: QEMU processes are SIGKILLed, a guest is shut down
with ``virsh shutdown`` (a one-sector boot program answers the ACPI power
button, see libvirt_host), another panics through a pvpanic device, and
libvirtd itself is SIGKILLed and restarted.  The engine is represented by
its real listener on the topic with a recorder in its place.

Skipped when libvirtd cannot run here or RabbitMQ is not reachable, except
under CI=true, where they fail.
"""

import subprocess
import time

from nova_ha.compute_hooks import libvirt_monitor
from tests.integration.compute_hooks import libvirt_host
from tests.integration.services import skip_or_fail
from tests.integration.services import wait_until
from tests.integration.services import rabbit_reachable
from tests.integration.services import RABBIT_URL as URL
from tests.unit.compute_hooks import harness

TIMEOUT = 30


class TestMonitorOnRealQemu(harness.TopicTestCase):

    URL = URL

    @classmethod
    def setUpClass(cls):
        if not rabbit_reachable():
            skip_or_fail('RabbitMQ is not reachable on 127.0.0.1:5672')
        libvirt_host.require_libvirtd()
        super().setUpClass()

    def setUp(self):
        self.guests = libvirt_host.Guests()
        self.addCleanup(self.guests.remove_all)
        self.monitor = libvirt_monitor.LibvirtEventMonitor(
            harness.monitor_conf(libvirt_host.URI, reconnect_interval=0.1,
                                 reconnect_interval_max=1.0,
                                 resync_interval=0.5),
            self.topic.publisher)
        self.monitor.start()
        self.addCleanup(self.monitor.stop)
        self.assertTrue(self.monitor.wait_connected(TIMEOUT))

    def start_guest(self, **kwargs):
        name, vm = self.guests.start(**kwargs)
        self.wait_condition(vm, 'running')
        return name, vm

    def wait_condition(self, vm, condition, timeout=TIMEOUT):
        wait_until(lambda: self.monitor.condition(vm) == condition, timeout,
                   'domain %s %s' % (vm, condition))

    def shut_down(self, name, vm):
        """`virsh shutdown`, repeated each second until the guest is off,
        as Nova's _clean_shutdown repeats it: the boot sector ignores the
        power button until it has armed it."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                self.guests.virsh('shutdown', name)
            except subprocess.CalledProcessError:
                pass   # it went off between our check and the request
            try:
                self.wait_condition(vm, 'shutoff:shutdown', timeout=1.0)
                return
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def assert_reported_once(self, vm):
        """Exactly one failure of ``vm`` reached the topic, counted once
        everything the monitor queued was published and delivered."""
        self.topic.wait_failures(vm, timeout=TIMEOUT)
        self.assertTrue(self.monitor.outbox.wait_empty(TIMEOUT))
        self.topic.flush(TIMEOUT)
        [event] = self.topic.failures(vm)
        return event

    def test_sigkill_of_qemu_reaches_the_engine_topic(self):
        name, vm = self.start_guest()
        self.guests.kill_qemu(name)
        [event] = self.topic.wait_failures(vm, timeout=TIMEOUT)
        self.assertEqual(('stopped_failed', harness.HOST, 'libvirt'),
                         (event.cause, event.host, event.source))
        self.assertIn('STOPPED/FAILED', event.detail)
        self.assertIn(name, event.detail)
        self.assert_reported_once(vm)

    def test_clean_shutdown_and_destroy_are_not_failures(self):
        """`virsh shutdown` of a guest that powers off on the ACPI button
        (what Nova's stop tries first), then `virsh destroy` (what Nova
        does next, and for delete and hard reboot): neither is reported.
        A SIGKILL afterwards is, alone: the topic delivers in order, so a
        report of the shutdown or the destroy would have come first."""
        name, vm = self.start_guest(
            program=libvirt_host.POWER_BUTTON_GUEST)
        self.shut_down(name, vm)
        self.guests.virsh('start', name)
        self.wait_condition(vm, 'running')
        self.guests.virsh('destroy', name)
        self.wait_condition(vm, 'shutoff:destroyed')
        self.guests.virsh('start', name)
        self.wait_condition(vm, 'running')
        self.guests.kill_qemu(name)
        event = self.assert_reported_once(vm)
        self.assertEqual('stopped_failed', event.cause)

    def test_guest_panic_is_one_failure(self):
        """The panic (CRASHED/PANICKED) and the stop libvirt's default
        on_crash=destroy makes of it (STOPPED/CRASHED) are one incident."""
        _, vm = self.guests.start(program=libvirt_host.PANIC_GUEST,
                                  panic_device=True)
        self.wait_condition(vm, 'shutoff:crashed')
        event = self.assert_reported_once(vm)
        self.assertEqual('guest_panic', event.cause)

    def test_crash_while_libvirtd_is_down_is_reported_once(self):
        """libvirtd is SIGKILLed, a guest's QEMU dies during the outage,
        libvirtd is restarted: the monitor reconnects, finds the guest shut
        off (crashed) and reports it once.  Another guest dies the moment
        libvirtd answers again, while it may still be re-attaching to it
        (then libvirt sends no event and records "shut off (daemon)"; the
        periodic state check finds it): reported once too, whichever way
        libvirt tells.  A further restart reports neither again."""
        victim, vm = self.start_guest()
        late, other = self.start_guest()
        libvirt_host.kill_libvirtd()
        wait_until(lambda: not self.monitor.connected, TIMEOUT,
                   'the monitor to see libvirtd gone')
        self.guests.kill_qemu(victim)
        libvirt_host.start_libvirtd(
            when_up=lambda: self.guests.kill_qemu(late))
        self.assertTrue(self.monitor.wait_connected(TIMEOUT, connections=2))
        event = self.assert_reported_once(vm)
        self.assertEqual('crashed', event.cause)
        self.assertIn('by a state check', event.detail)
        self.assertIn(self.assert_reported_once(other).cause,
                      ('stopped_failed', 'crashed'))

        libvirt_host.kill_libvirtd()
        libvirt_host.start_libvirtd()
        self.assertTrue(self.monitor.wait_connected(TIMEOUT, connections=3))
        self.assert_reported_once(vm)
        self.assert_reported_once(other)
