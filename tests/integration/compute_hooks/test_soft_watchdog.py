"""The software watchdog as a real process.

Nothing is mocked: the watchdog is its own process reading its FIFO, and
the victims are real processes it must SIGKILL.  (The peer probes are in
test_peer_probes.)
"""

import functools
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from nova_ha.compute_hooks import watchdog
from nova_ha.servicegroup import channels


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


# -- what the monitor announces ------------------------------------------------

def test_the_report_is_unarmed_once_the_watchdog_process_is_gone(dog):
    # The engine takes the watchdog rung only for an armed watchdog: a
    # software watchdog that died (OOM killer, an operator's kill) fires
    # nothing, and its host must stop announcing it.
    wd = dog(timeout=5.0)
    wd.arm()
    feeder = watchdog.QuorumFeeder(wd, lambda within: True, 0.5, 3.0,
                                   peers=['h3', 'h2'])
    assert feeder.tick()
    assert feeder.report() == channels.WatchdogReport(
        kind='software', armed=True, timeout=5.0, quorum_timeout=3.0,
        feed_interval=0.5, peers=('h2', 'h3'))
    with open(wd.pid_file) as f:
        os.kill(int(f.read()), signal.SIGKILL)
    assert _wait(lambda: not feeder.tick(), 5.0)
    report = feeder.report()
    assert not report.armed
    assert report.kind == 'software'
    assert not feeder.tick()
    assert not feeder.report().armed


def test_the_monitor_announces_its_watchdog_with_the_peers_of_its_quorum(
        tmp_path, tag, request):
    from oslo_config import cfg

    from nova_ha import conf as ha_conf
    from nova_ha.compute_hooks import service

    conf = cfg.ConfigOpts()
    for module in ha_conf._MODULES:
        module.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[])
    for group, options in {
            'monitor': {'host': 'h1', 'host_heartbeat': False,
                        'libvirt_events': False},
            'monitor_nova_compute': {'enabled': False},
            # Peers that never answer, on loopback.
            'monitor_peers': {'enabled': True, 'address': '127.0.0.1',
                              'port': 0, 'key': 'k',
                              'peers': ['h3=127.0.0.33', 'h2=127.0.0.32']},
            'watchdog': {'kind': 'software', 'timeout': 5.0,
                         'feed_interval': 0.5, 'quorum_timeout': 3.0,
                         'work_dir': str(tmp_path / 'wd'),
                         'kill_patterns': [tag]}}.items():
        for name, value in options.items():
            conf.set_override(name, value, group)
            # Overrides live in the option groups, which every ConfigOpts
            # of the process shares: none is left to the next test.
            request.addfinalizer(functools.partial(conf.clear_override,
                                                   name, group))
    monitor = service.MonitorService(conf, publisher=object())
    monitor.start()
    try:
        report = monitor.peers.view().watchdog
        # An answer counts up to two probe intervals (0.5 s) after its
        # probe.
        assert report == channels.WatchdogReport(
            kind='software', armed=True, timeout=5.0, quorum_timeout=3.0,
            feed_interval=0.5, peers=('h2', 'h3'), answer_window=1.0)
    finally:
        monitor.stop()


def test_a_watchdog_without_peers_is_not_armed(tmp_path, tag, request,
                                               caplog):
    # Fed on the coordination backend alone, it would reset the host
    # whenever the backend is down.
    from oslo_config import cfg

    from nova_ha import conf as ha_conf
    from nova_ha.compute_hooks import service

    conf = cfg.ConfigOpts()
    for module in ha_conf._MODULES:
        module.register_opts(conf)
    conf([], default_config_files=[], default_config_dirs=[])
    for group, options in {
            'monitor': {'host': 'h1', 'host_heartbeat': False,
                        'libvirt_events': False},
            'monitor_nova_compute': {'enabled': False},
            'watchdog': {'kind': 'software', 'timeout': 5.0,
                         'feed_interval': 0.5, 'quorum_timeout': 3.0,
                         'work_dir': str(tmp_path / 'wd'),
                         'kill_patterns': [tag]}}.items():
        for name, value in options.items():
            conf.set_override(name, value, group)
            request.addfinalizer(functools.partial(conf.clear_override,
                                                   name, group))
    monitor = service.MonitorService(conf, publisher=object())
    with caplog.at_level('ERROR'):
        monitor.start()
    try:
        assert monitor.feeder is None
        assert not (tmp_path / 'wd' / 'pid').exists()
        assert 'no [monitor_peers] peers' in caplog.text
    finally:
        monitor.stop()
