"""The software watchdog as a real process.

Nothing is mocked: the watchdog is its own process reading its FIFO, and
the victims are real processes it must SIGKILL.  (The peer probes are in
test_peer_probes.)
"""

import os
import subprocess
import sys
import time
import uuid

import pytest

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
