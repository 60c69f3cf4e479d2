"""VM crash detection of nova-ha-monitor's libvirt monitor.

Each run starts a tiny TCG guest on the real libvirtd (no OS, 32 MiB),
SIGKILLs its QEMU process and measures, from the kill:

- libvirt's notice: when a separate read-only connection's lifecycle
  callback sees STOPPED (what any libvirt client, Nova included, gets);
- on the bus: when the engine's listener (nova_ha.notifier.listener, with
  a recorder in the engine's place) receives the monitor's vm.failure
  over RabbitMQ (or --url);

and prints the median and p90 of both and of their difference (the
monitor's own cost: classification, outbox, oslo.messaging, broker).

For context, Nova's own path to the same knowledge: nova-compute delays a
STOPPED lifecycle event by 15 s (nova/virt/libvirt/host.py, to ride out
reboots) before syncing the power state and stopping the server, which the
engine then sees as ``nova_power_sync``; without events, the periodic
sync_power_state_interval (600 s by default) finds it after half an
interval on average.

Needs root, libvirtd/QEMU (started and configured as the integration tests
do, tests/integration/compute_hooks/libvirt_host.py) and RabbitMQ.

Run: .venv/bin/python bench/monitor_crash_detection.py [--runs 10]
     [--url rabbit://guest:guest@127.0.0.1:5672/]
"""

import os
import sys

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

import tests  # noqa: E402,F401  (Nova's test mode first)

import argparse  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

import libvirt  # noqa: E402
import nova.conf  # noqa: E402

from nova_ha.compute_hooks import libvirt_monitor  # noqa: E402
from tests.integration.compute_hooks import libvirt_host  # noqa: E402
from tests.integration.notifier.test_rabbitmq import URL  # noqa: E402
from tests.unit.compute_hooks import harness  # noqa: E402

NOVA_STOPPED_EVENT_DELAY = 15.0   # nova/virt/libvirt/host.py, delay=15
TIMEOUT = 30.0


class LibvirtWitness:
    """A plain libvirt client: when did libvirt tell about each stop?"""

    def __init__(self):
        self.conn = libvirt.openReadOnly(libvirt_host.URI)
        self.stopped = {}
        self.cond = threading.Condition()
        self.callback = self.conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._event, None)

    def _event(self, _conn, domain, event, _detail, _opaque):
        if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
            with self.cond:
                self.stopped.setdefault(domain.UUIDString(),
                                        time.monotonic())
                self.cond.notify_all()

    def wait_stopped(self, vm):
        with self.cond:
            if not self.cond.wait_for(lambda: vm in self.stopped, TIMEOUT):
                raise RuntimeError('libvirt never reported %s stopped' % vm)
            return self.stopped[vm]

    def close(self):
        self.conn.domainEventDeregisterAny(self.callback)
        self.conn.close()


def wait_on_bus(topic, vm):
    topic.recorder.wait(lambda: topic.failures(vm), TIMEOUT)
    return time.monotonic()


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) -
                                                            1))))]


def summary(name, seconds):
    return '%-34s median %7.1f ms   p90 %7.1f ms   (min %.1f, max %.1f)' % (
        name, statistics.median(seconds) * 1000,
        percentile(seconds, 0.9) * 1000, min(seconds) * 1000,
        max(seconds) * 1000)


def measure(runs, url):
    libvirt_host.require_libvirtd()
    topic = harness.EngineTopic(url)
    monitor = libvirt_monitor.LibvirtEventMonitor(
        harness.monitor_conf(libvirt_host.URI), topic.publisher)
    monitor.start()
    guests = libvirt_host.Guests()
    notice, bus = [], []
    try:
        if not monitor.wait_connected(TIMEOUT):
            raise RuntimeError('the monitor did not connect to libvirtd')
        witness = LibvirtWitness()
        for run in range(runs):
            name, vm = guests.start()
            deadline = time.monotonic() + TIMEOUT
            while monitor.condition(vm) != 'running':
                if time.monotonic() > deadline:
                    raise RuntimeError('%s never seen running' % name)
                time.sleep(0.01)
            killed = guests.kill_qemu(name)
            arrived = wait_on_bus(topic, vm)
            noticed = witness.wait_stopped(vm)
            notice.append(noticed - killed)
            bus.append(arrived - killed)
            print('run %2d: libvirt noticed after %6.1f ms, vm.failure on '
                  'the bus after %6.1f ms' % (run + 1, notice[-1] * 1000,
                                              bus[-1] * 1000))
        witness.close()
    finally:
        monitor.stop()
        guests.remove_all()
        topic.close()
    return notice, bus


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=10)
    parser.add_argument('--url', default=URL,
                        help='oslo.messaging transport URL of the bus')
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)   # the monitor logs each kill
    notice, bus = measure(args.runs, args.url)
    beyond = [b - n for n, b in zip(notice, bus)]
    print()
    print('%d SIGKILLs of QEMU, bus %s' % (args.runs, args.url.split('@')[-1]))
    print(summary('kill -> libvirt notice', notice))
    print(summary('kill -> vm.failure on the bus', bus))
    print(summary('beyond libvirt (target < 1000 ms)', beyond))
    interval = nova.conf.CONF.sync_power_state_interval
    print()
    print('Nova alone, for context: libvirt notice + %.0f s event delay '
          '(median about %.1f s here, before Nova even calls its stop), or '
          'the periodic power-state sync every %d s (median wait %d s).' % (
              NOVA_STOPPED_EVENT_DELAY,
              statistics.median(notice) + NOVA_STOPPED_EVENT_DELAY, interval,
              interval // 2))


if __name__ == '__main__':
    main()
