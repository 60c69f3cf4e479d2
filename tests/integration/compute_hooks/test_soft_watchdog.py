"""The software watchdog and the peer probes as real processes and sockets.

Nothing is mocked: the watchdog is its own process reading its FIFO, the
victims are real processes it must SIGKILL, and the probes are UDP
datagrams on loopback between two PeerProbers.
"""

import os
import subprocess
import sys
import time
import uuid

import pytest

from nova_ha.compute_hooks import peers
from nova_ha.compute_hooks import watchdog


def _victim(tag):
    """A process whose command line carries ``tag``."""
    return subprocess.Popen([sys.executable, '-c',
                             'import time; time.sleep(120)', tag])


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def tag():
    return 'nova-ha-test-victim-%s' % uuid.uuid4().hex


@pytest.fixture
def dog(tmp_path, tag):
    made = []

    def make(timeout=1.0):
        wd = watchdog.SoftwareWatchdog(
            str(tmp_path / 'wd'), timeout, [tag],
            'touch %s' % (tmp_path / 'fired'))
        made.append(wd)
        return wd
    yield make
    for wd in made:
        wd.disarm()


def test_unfed_it_kills_the_guests_and_runs_the_fire_command(dog, tag,
                                                             tmp_path):
    victim = _victim(tag)
    try:
        dog(timeout=1.0).arm()
        assert _wait(lambda: victim.poll() is not None, 5.0)
        assert victim.returncode == -9
        assert _wait(lambda: (tmp_path / 'fired').exists(), 5.0)
    finally:
        victim.kill()


def test_fed_it_kills_nothing_and_a_clean_stop_disarms_it(dog, tag):
    victim = _victim(tag)
    # Timeouts well above the feeding period: a busy CI machine may hold
    # this thread for a second.
    wd = dog(timeout=2.0)
    try:
        wd.arm()
        for _ in range(15):           # 4.5 s, more than two timeouts
            wd.feed()
            time.sleep(0.3)
        assert victim.poll() is None
        wd.disarm()
        time.sleep(3.0)
        assert victim.poll() is None
    finally:
        victim.kill()


def test_a_fifo_left_by_a_previous_boot_does_not_stop_the_arming(dog, tmp_path):
    # A host powered off leaves the FIFO behind with no reader: arming
    # after the next boot must start a new watchdog and feed it (the lab
    # found a monitor that crashed on it, and its new watchdog then killed
    # nova-compute).
    os.makedirs(tmp_path / 'wd')
    os.mkfifo(tmp_path / 'wd' / 'feed')
    wd = dog(timeout=5.0)
    wd.arm()
    wd.feed()


def test_a_restarted_monitor_feeds_the_running_watchdog(dog, tag):
    victim = _victim(tag)
    try:
        first = dog(timeout=2.0)
        first.arm()
        with open(first.pid_file) as f:
            pid = f.read().strip()
        second = dog(timeout=2.0)
        second.arm()                  # a new monitor process, same host
        with open(second.pid_file) as f:
            assert f.read().strip() == pid
        for _ in range(15):
            second.feed()
            time.sleep(0.3)
        assert victim.poll() is None
    finally:
        victim.kill()


# -- peer probes ---------------------------------------------------------------

def _pair(key_a='k', key_b='k', report=None):
    a = peers.PeerProber('h1', '127.0.0.1', 0, {}, 0.1, key=key_a)
    b = peers.PeerProber('h2', '127.0.0.1', 0, {}, 0.1, key=key_b,
                         watchdog_report=report)
    # Each on its own ephemeral port: point them at each other.
    a.port = b._sock.getsockname()[1]
    b.port = a._sock.getsockname()[1]
    a.peers = {'h2': '127.0.0.1'}
    b.peers = {'h1': '127.0.0.1'}
    return a, b


def test_peers_hear_each_other_and_carry_the_watchdog_report():
    from nova_ha.servicegroup import channels
    report = channels.WatchdogReport('softdog', True, 10.0, 3.0, 1.0)
    a, b = _pair(report=lambda: report)
    a.start()
    b.start()
    try:
        # (a probe received counts as hearing the peer: its answer, with
        # the watchdog report, may come a moment later)
        assert _wait(lambda: a.peer_majority_within(0.5) and
                     b.peer_majority_within(0.5) and
                     'h2' in a.view().watchdogs, 10.0)
        view = a.view()
        assert view.heard['h2'] < 0.5
        assert view.watchdogs['h2'] == report
        b.stop()                      # h2 "hangs": nothing answers
        time.sleep(0.6)
        assert not a.peer_majority_within(0.5)
        assert a.view().heard['h2'] >= 0.5
    finally:
        a.stop()
        b.stop()


def test_a_wrong_key_is_never_heard():
    a, b = _pair(key_a='one', key_b='two')
    a.start()
    b.start()
    try:
        time.sleep(0.6)
        assert a.view().heard['h2'] is None
        assert b.view().heard['h1'] is None
    finally:
        a.stop()
        b.stop()
