"""Host-down detection of nova-ha's servicegroup driver vs Nova's DB driver.

1. Detection latency: a member process (python -m nova_ha.servicegroup.member,
   the Heartbeater Nova services use) is SIGKILLed at a random phase of its
   heartbeat cycle; the latency is the time from the kill to the watcher's
   down event.  Repeated --kills times (median and p99).
   Nova's DB driver is measured in the same run on the same kill phases: its
   real ``DbDriver.is_up`` is evaluated against the heartbeat timeline Nova
   writes (last_seen_up every report_interval, defaults 10 s / 60 s), with
   Nova's clock moved forward by oslo's time override in 50 ms steps until
   it answers down (60+ s of waiting per kill would make 20 kills last 20 min).
2. is_up calls per second of both drivers (ours answers from the cached view).
3. False positives: --members processes heartbeat for --soak-seconds (600 =
   10 minutes by default) while the bench saturates every core with busy
   processes; every down event is a false positive (target 0).

Run: .venv/bin/python bench/servicegroup_detection.py [--backend URL]
     [--kills 20] [--soak-seconds 600]
"""

import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

import nova.tests.functional  # noqa: E402,F401  (Nova's test mode first)

import argparse  # noqa: E402
import datetime  # noqa: E402
import multiprocessing  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

import nova.conf  # noqa: E402
from nova.servicegroup.drivers import db as db_driver  # noqa: E402
from oslo_utils import timeutils  # noqa: E402

from nova_ha.servicegroup import backend  # noqa: E402
from nova_ha.servicegroup import driver as ha_driver  # noqa: E402
from nova_ha.servicegroup import loader  # noqa: E402
from nova_ha.servicegroup import membership  # noqa: E402
from nova_ha.servicegroup import watcher  # noqa: E402

CONF = nova.conf.CONF


def percentile(values, pct):
    ordered = sorted(values)
    index = min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


class Members:
    """Member processes and a watcher collecting events."""

    def __init__(self, url, group, interval, down_time, poll):
        self.url, self.group = url, group
        self.interval, self.down_time = interval, down_time
        self.events = []
        self.changed = threading.Condition()
        self.watcher = watcher.HostLivenessWatcher(
            url, group, self._on_change, down_time=down_time,
            poll_interval=poll)
        self.watcher.start()
        self.procs = []

    def _on_change(self, event):
        with self.changed:
            self.events.append((time.monotonic(), event))
            self.changed.notify_all()

    def spawn(self, host):
        proc = subprocess.Popen(
            [sys.executable, '-m', 'nova_ha.servicegroup.member', self.url,
             self.group, host, '--heartbeat-interval', str(self.interval),
             '--down-time', str(self.down_time)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if proc.stdout.readline().strip() != 'ready':
            raise RuntimeError('member %s did not start' % host)
        self.procs.append(proc)
        return proc

    def wait_event(self, host, state, timeout):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for at, event in self.events:
                    if event.host == host and event.state == state:
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError('%s never %s' % (host, state))
                self.changed.wait(left)

    def close(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self.watcher.stop()


def measure_detection(args, url):
    members = Members(url, 'nova-ha.bench-%s' % uuid.uuid4().hex[:6],
                      args.heartbeat_interval, args.down_time, args.poll)
    ours, phases = [], []
    pause = threading.Event()
    try:
        for i in range(args.kills):
            host = 'kill-%02d' % i
            proc = members.spawn(host)
            members.wait_event(host, membership.UP, 10)
            phase = random.uniform(0, args.heartbeat_interval)
            pause.wait(phase)
            killed = time.monotonic()
            proc.send_signal(signal.SIGKILL)
            down_at = members.wait_event(host, membership.DOWN,
                                         args.down_time + 10)
            ours.append(down_at - killed)
            phases.append(random.random())
    finally:
        members.close()
    return ours, phases


def nova_db_detection(phases):
    """Nova's DbDriver.is_up on Nova's heartbeat timeline, same kills."""
    driver = db_driver.DbDriver()
    interval = CONF.report_interval
    results = []
    start = datetime.datetime(2030, 1, 1)
    for phase in phases:
        kill = start
        # The last heartbeat Nova wrote before the kill.
        last = kill - datetime.timedelta(seconds=phase * interval)
        ref = {'last_seen_up': last, 'created_at': last,
               'host': 'h', 'binary': 'nova-compute'}
        elapsed = 0.0
        try:
            while True:
                timeutils.set_time_override(
                    kill + datetime.timedelta(seconds=elapsed))
                if not driver.is_up(ref):
                    break
                elapsed += 0.05
        finally:
            timeutils.clear_time_override()
        results.append(elapsed)
    return results


def calls_per_second(func, ref, seconds=1.0):
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(1000):
            func(ref)
        count += 1000
    return count / seconds


def measure_is_up(args, base_url):
    loader.install()
    CONF.set_override('backend_url', base_url, group='ha_servicegroup')
    CONF.set_override('poll_interval', args.poll, group='ha_servicegroup')
    ours = ha_driver.HAServiceGroupDriver()
    members = Members(ours.url, 'nova-ha.compute', args.heartbeat_interval,
                      args.down_time, args.poll)
    try:
        host = 'isup-%s' % uuid.uuid4().hex[:6]
        members.spawn(host)
        ref = {'host': host, 'topic': 'compute', 'binary': 'nova-compute',
               'last_seen_up': timeutils.utcnow(),
               'created_at': timeutils.utcnow()}
        ours.is_up(ref)
        view = ha_driver.shared_watcher(ours.url, 'nova-ha.compute', 0, 0)
        deadline = time.monotonic() + 10
        while view.state(host) != membership.UP:
            if time.monotonic() > deadline:
                raise RuntimeError('is_up view never saw %s' % host)
            threading.Event().wait(0.05)
        ours_rate = calls_per_second(ours.is_up, ref)
        db_rate = calls_per_second(ours._db.is_up, ref)
    finally:
        members.close()
        ha_driver.reset()
    return ours_rate, db_rate


def _burn(stop):
    x = 0
    while not stop.is_set():
        for _ in range(100000):
            x += 1


def soak(args, url):
    members = Members(url, 'nova-ha.soak-%s' % uuid.uuid4().hex[:6],
                      args.heartbeat_interval, args.down_time, args.poll)
    stop = multiprocessing.Event()
    burners = [multiprocessing.Process(target=_burn, args=(stop,))
               for _ in range(os.cpu_count() or 2)]
    try:
        hosts = ['soak-%02d' % i for i in range(args.members)]
        for host in hosts:
            members.spawn(host)
        for host in hosts:
            members.wait_event(host, membership.UP, 10)
        for proc in burners:
            proc.start()
        threading.Event().wait(args.soak_seconds)
        downs = [e for _, e in members.events if e.state == membership.DOWN]
    finally:
        stop.set()
        for proc in burners:
            proc.join(10)
        members.close()
    return downs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--backend', default='redis://127.0.0.1:6379',
                        help="tooz URL, or 'embedded' for the file driver")
    parser.add_argument('--kills', type=int, default=20)
    parser.add_argument('--soak-seconds', type=float, default=600)
    parser.add_argument('--members', type=int, default=4)
    parser.add_argument('--heartbeat-interval', type=float, default=0.5)
    parser.add_argument('--down-time', type=float, default=2.0)
    parser.add_argument('--poll', type=float, default=0.25)
    args = parser.parse_args()
    CONF([], project='nova', default_config_files=[])
    base = args.backend
    if base == 'embedded':
        base = backend.embedded_url(tempfile.mkdtemp(prefix='nova-ha-bench-'))
    url = backend.timed_url(base, args.down_time, args.heartbeat_interval)
    print('backend %s, heartbeat %.2fs, down_time %.2fs, poll %.2fs' % (
        backend.redact(base), args.heartbeat_interval, args.down_time,
        args.poll))

    ours, phases = measure_detection(args, url)
    nova = nova_db_detection(phases)
    med_ours, med_nova = statistics.median(ours), statistics.median(nova)
    print('detection over %d SIGKILLs (seconds):' % len(ours))
    print('  nova-ha   median %.2f  p99 %.2f  max %.2f' % (
        med_ours, percentile(ours, 99), max(ours)))
    print('  Nova DB   median %.2f  p99 %.2f  max %.2f  (report_interval %ds,'
          ' service_down_time %ds)' % (
              med_nova, percentile(nova, 99), max(nova),
              CONF.report_interval, CONF.service_down_time))
    print('  ratio of medians %.1fx' % (med_nova / med_ours))

    ours_rate, db_rate = measure_is_up(args, base)
    print('is_up calls/s: nova-ha %.0f, Nova DB %.0f' % (ours_rate, db_rate))

    if args.soak_seconds > 0:
        downs = soak(args, url)
        print('false positives: %d down events in %.0fs, %d members, '
              '%d busy processes on %d cores' % (
                  len(downs), args.soak_seconds, args.members,
                  os.cpu_count() or 2, os.cpu_count() or 2))
        for event in downs:
            print('  ', event)
    return 0


if __name__ == '__main__':
    sys.exit(main())
