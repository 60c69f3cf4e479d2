"""A monitor's quorum through an outage of the coordination backend.

Real parts only.  Each host is a MonitorService of its own (threads of
this process) with its host heartbeat in a private redis-server and its
peer prober on an address of its own in 127.0.0.0/8, all on one port; h1
arms the software watchdog, a process of its own that SIGKILLs a victim
process when it fires.  The outage is real: the redis-server is stopped.

The segment is h1..h6; h4, h5 and h6 are dead (nothing listens at their
addresses), so h1's answering peers, h2 and h3, are no majority of its
five: once the backend is gone too, only their word that they lost it
as well keeps h1 feeding (channels.holds_quorum).
"""

import json
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
from oslo_config import cfg

from nova_ha import conf as ha_conf
from nova_ha.compute_hooks import peers as peers_lib
from nova_ha.compute_hooks import service

from nova_ha_testbed import fault_services

KEY = 'segment-probe-key'
INTERVAL = 0.1            # probes
HEARTBEAT = 0.1           # host heartbeat
DOWN_TIME = 1.0
QUORUM = 1.0              # [watchdog] quorum_timeout, on every host
FEED = 0.2
WATCHDOG_TIMEOUT = 2.0
WITHIN = 0.5

ADDRESSES = {'h1': '127.0.0.51', 'h2': '127.0.0.52', 'h3': '127.0.0.53',
             # Dead hosts: nothing listens there.
             'h4': '127.0.0.54', 'h5': '127.0.0.55', 'h6': '127.0.0.56'}
TAMPERER = '127.0.0.57'


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('0.0.0.0', 0))
        return sock.getsockname()[1]


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def _holds(predicate, seconds):
    """``predicate`` is true every time it is read for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(0.02)
    return True


def _monitor_conf(path, host, port, peers, backend_url, watchdog_dir=None,
                  tag=None):
    """The monitor's configuration, read from a file of its own: overrides
    (set_override) would be shared by every monitor of this process."""
    watchdog = ['kind = none']
    if watchdog_dir is not None:
        watchdog = ['kind = software', 'timeout = %s' % WATCHDOG_TIMEOUT,
                    'feed_interval = %s' % FEED,
                    'work_dir = %s' % watchdog_dir,
                    'kill_patterns = %s' % tag, 'fire_command = true']
    with open(path, 'w') as f:
        f.write('\n'.join([
            '[monitor]', 'host = %s' % host, 'host_heartbeat = true',
            'libvirt_events = false',
            '[monitor_nova_compute]', 'enabled = false',
            '[ha_servicegroup]', 'backend_url = %s' % backend_url,
            'heartbeat_interval = %s' % HEARTBEAT,
            'down_time = %s' % DOWN_TIME,
            '[monitor_peers]', 'enabled = true',
            'address = %s' % ADDRESSES[host], 'port = %d' % port,
            'key = %s' % KEY, 'probe_interval = %s' % INTERVAL,
            'peers = %s' % ','.join('%s=%s' % p
                                    for p in sorted(peers.items())),
            '[watchdog]', 'quorum_timeout = %s' % QUORUM] + watchdog + ['']))
    conf = cfg.ConfigOpts()
    for module in ha_conf._MODULES:
        module.register_opts(conf)
    conf(['--config-file', path], default_config_files=[],
         default_config_dirs=[])
    return conf


class Tamperer:
    """A UDP hop on ``address`` in front of ``target`` (same port): every
    answer is sent on first forged, its ``cb`` turned to false, in turn
    under its own signature and signed again with a wrong key, then as
    it was.  Were a forgery taken, it would use up the answer's nonce."""

    def __init__(self, address, port, target):
        self.target = (target, port)
        self.forged = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, port))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _forge(self, data):
        envelope = json.loads(data.decode())
        message = json.loads(envelope['m'])
        if message.get('t') != peers_lib.ACK:
            return None
        message['cb'] = False
        self.forged += 1
        if self.forged % 2:
            return json.dumps({'m': peers_lib.canonical(message),
                               's': envelope['s']}).encode()
        return peers_lib.seal(b'not-the-segment-key', message)

    def _run(self):
        while not self._stop.is_set():
            try:
                data, _ = self._sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                forged = self._forge(data)
                if forged is not None:
                    self._sock.sendto(forged, self.target)
                self._sock.sendto(data, self.target)
            except OSError:
                pass

    def stop(self):
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()


@pytest.fixture
def segment(tmp_path):
    made = []

    class Segment:
        port = _free_udp_port()
        tag = 'nova-ha-test-victim-%s' % uuid.uuid4().hex

        def redis(self):
            try:
                server = fault_services.PrivateRedis(str(tmp_path))
            except fault_services.ServiceUnavailable as exc:
                pytest.skip(str(exc))
            server.start()
            made.append(server)
            return server

        def monitor(self, host, redis, watchdog=False, peers=None):
            """h1 probes the whole segment, the others h1 only."""
            if peers is None:
                peers = {h: a for h, a in ADDRESSES.items() if h != host} \
                    if host == 'h1' else {'h1': ADDRESSES['h1']}
            conf = _monitor_conf(
                str(tmp_path / ('%s.conf' % host)), host, self.port, peers,
                redis.url(),
                watchdog_dir=str(tmp_path / ('wd-' + host))
                if watchdog else None, tag=self.tag)
            monitor = service.MonitorService(conf, publisher=object())
            monitor.start()
            made.append(monitor)
            if watchdog:
                assert monitor.feeder is not None, 'no watchdog armed'
            return monitor

        def victim(self):
            """A process the software watchdog kills when it fires."""
            process = subprocess.Popen([sys.executable, '-c',
                                        'import time; time.sleep(120)',
                                        self.tag])
            made.append(process)
            return process

        def tamperer(self, target):
            tamperer = Tamperer(TAMPERER, self.port, target)
            made.append(tamperer)
            return tamperer

    yield Segment()
    for item in reversed(made):
        if isinstance(item, subprocess.Popen):
            item.kill()
            item.wait()
        else:
            item.stop()


def _answered(monitor, *hosts):
    heard = monitor.peers.view().heard
    return all(heard.get(h) is not None and heard[h] < WITHIN
               for h in hosts)


def _backend_lost(monitor):
    return dict(monitor.peers.quorum_state().backend_lost)


def _cut_from_backend(*monitors):
    """Each monitor's heartbeat last reached the backend longer ago than
    its quorum timeout, plus time for its answers to say so."""
    now = time.time()
    return all(m.heartbeat.last_ok is not None and
               now - m.heartbeat.last_ok > QUORUM + 0.5 for m in monitors)


def test_a_backend_outage_with_the_peer_majority_dead_keeps_feeding(segment):
    # Redis goes down while three of h1's five peers are dead: h1 can
    # reach neither the backend nor a majority, but both peers that
    # answer it lost the backend too.  That is an outage of the backend,
    # not h1's isolation: h1 feeds on and its guests live.
    redis = segment.redis()
    h2 = segment.monitor('h2', redis)
    h3 = segment.monitor('h3', redis)
    victim = segment.victim()
    h1 = segment.monitor('h1', redis, watchdog=True)
    assert _wait(lambda: _answered(h1, 'h2', 'h3'), 10.0)
    assert h1.has_quorum(QUORUM)
    redis.stop()
    assert _wait(lambda: _cut_from_backend(h1, h2, h3), 10.0)

    assert _holds(lambda: h1.has_quorum(QUORUM) and h1.feeder.feeding,
                  WATCHDOG_TIMEOUT + 1.0)
    assert victim.poll() is None          # the watchdog never fired
    assert h1.feeder.report().armed
    assert _answered(h1, 'h2', 'h3')
    assert _backend_lost(h1) == {'h2': True, 'h3': True}


def test_a_peer_that_still_reaches_the_backend_leaves_no_quorum(segment):
    # The same, but h3 still reaches a backend (the outage is h1's and
    # h2's alone): two answering peers of five are no majority, and h3's
    # word says the backend is up.  h1 stops feeding, and its watchdog
    # fires.
    redis = segment.redis()
    other = segment.redis()
    h2 = segment.monitor('h2', redis)
    segment.monitor('h3', other)
    victim = segment.victim()
    h1 = segment.monitor('h1', redis, watchdog=True)
    assert _wait(lambda: _answered(h1, 'h2', 'h3'), 10.0)
    redis.stop()
    assert _wait(lambda: _cut_from_backend(h1, h2), 10.0)

    assert _holds(lambda: not h1.has_quorum(QUORUM), 1.0)
    assert _answered(h1, 'h2', 'h3')
    assert _backend_lost(h1) == {'h2': True, 'h3': False}
    assert _wait(lambda: not h1.feeder.feeding, 2.0)
    assert _wait(lambda: victim.poll() is not None, WATCHDOG_TIMEOUT + 3.0)
    assert victim.returncode == -9


def test_a_forged_backend_flag_is_refused(segment):
    # h2 reaches its backend; a man in the middle turns the flag of each
    # of its answers to "lost" before h1 sees it.  Taken, that would keep
    # h1 (cut from its own backend, one answering peer of five) feeding.
    redis = segment.redis()
    other = segment.redis()
    tamperer = segment.tamperer(ADDRESSES['h1'])
    segment.monitor('h2', other, peers={'h1': TAMPERER})
    h1 = segment.monitor('h1', redis)
    assert _wait(lambda: _answered(h1, 'h2'), 10.0)
    redis.stop()
    assert _wait(lambda: _cut_from_backend(h1), 10.0)

    assert _holds(lambda: not h1.has_quorum(QUORUM) and
                  _answered(h1, 'h2') and
                  _backend_lost(h1) == {'h2': False}, 1.5)
    tamperer.stop()
    assert tamperer.forged > 10
    # Every forgery refused like any datagram that does not verify.
    assert _wait(lambda: h1.peers.refused[peers_lib.BAD] == tamperer.forged,
                 2.0)


def test_the_watchdog_report_announces_the_answer_window(segment):
    # The engine adds to its safe wait how long after its probe an answer
    # still counts for the host's quorum: the window of h1's own prober.
    redis = segment.redis()
    segment.victim()
    h2 = segment.monitor('h2', redis)
    h1 = segment.monitor('h1', redis, watchdog=True)
    window = h1.peers.answer_window
    assert window == pytest.approx(peers_lib.ANSWER_WINDOW * INTERVAL)
    assert h1.feeder.report().answer_window == window
    assert h1.peers.view().watchdog.answer_window == window
    # ... and in every answer, as h2 receives it over the probe network.
    assert _wait(lambda: 'h1' in h2.peers.view().watchdogs, 10.0)
    assert h2.peers.view().watchdogs['h1'].answer_window == window


def test_an_answer_silent_about_the_backend_is_no_lost_backend():
    # A monitor without a host heartbeat cannot tell: its answers carry
    # no flag, and are not taken for a lost backend.
    port = _free_udp_port()
    a = peers_lib.PeerProber('h1', ADDRESSES['h1'], port,
                             {'h2': ADDRESSES['h2']}, INTERVAL, key=KEY)
    b = peers_lib.PeerProber('h2', ADDRESSES['h2'], port,
                             {'h1': ADDRESSES['h1']}, INTERVAL, key=KEY,
                             coordination_ok=lambda: None)
    c = None
    try:
        a.start()
        b.start()
        assert _wait(lambda: 'h2' in a.quorum_state().answered_at, 10.0)
        assert a.quorum_state().backend_lost == {'h2': False}
        b.stop()
        # The same peer, now saying it lost the backend.
        c = peers_lib.PeerProber('h2', ADDRESSES['h2'], port,
                                 {'h1': ADDRESSES['h1']}, INTERVAL, key=KEY,
                                 coordination_ok=lambda: False)
        c.start()
        assert _wait(lambda: a.quorum_state().backend_lost == {'h2': True},
                     10.0)
    finally:
        for prober in (a, b, c):
            if prober is not None:
                prober.stop()
