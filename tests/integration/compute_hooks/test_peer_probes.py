"""The peer probes between real PeerProbers over real UDP sockets.

Nothing is mocked.  Each prober is bound on an address of its own in
127.0.0.0/8 with one port shared by all (as in production, where every
host uses [monitor_peers] port); the faults are real too:

- a dead transmit path: a host's peer address leads nowhere, so its
  probes and answers are lost while it still receives its peer's probes;
- a man in the middle: a Relay between two probers forwards their
  datagrams (late, when asked), keeps a copy of each, and the test
  replays the copies from a socket of its own.
"""

import socket
import threading
import time

import pytest

from nova_ha.compute_hooks import peers as peers_lib
from nova_ha.servicegroup import channels

KEY = 'segment-probe-key'
INTERVAL = 0.1
WITHIN = 0.5

A, B, C = '127.0.0.11', '127.0.0.12', '127.0.0.13'
# Addresses where nothing listens, and those of the relays.
NOWHERE = '127.0.0.19'
RELAY_AB, RELAY_BA, RELAY_BC = '127.0.0.21', '127.0.0.22', '127.0.0.23'


def _free_port():
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


class Relay:
    """A UDP hop on ``address``: each datagram is kept and forwarded to
    ``target`` (on the same port) ``delay`` seconds later, unless cut."""

    def __init__(self, address, port, target, delay=0.0):
        self.target = (target, port)
        self.delay = delay
        self.copies = []
        self.forwarding = True
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((address, port))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _forward(self, data):
        if self.forwarding and not self._stop.is_set():
            try:
                self._sock.sendto(data, self.target)
            except OSError:
                pass

    def _run(self):
        while not self._stop.is_set():
            try:
                data, _ = self._sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.copies.append(data)
            if self.delay:
                threading.Timer(self.delay, self._forward, (data,)).start()
            else:
                self._forward(data)

    def cut(self):
        self.forwarding = False

    def stop(self):
        self._stop.set()
        self._thread.join(2.0)
        self._sock.close()


@pytest.fixture
def net():
    made = []

    class Net:
        port = _free_port()

        def prober(self, host, address, peers, key=KEY, report=None):
            prober = peers_lib.PeerProber(
                host, address, self.port, peers, INTERVAL, key=key,
                watchdog_report=report)
            made.append(prober)
            return prober

        def relay(self, address, target, delay=0.0):
            relay = Relay(address, self.port, target, delay)
            made.append(relay)
            return relay

        def replay(self, datagrams, address):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                for data in datagrams:
                    sock.sendto(data, (address, self.port))

    yield Net()
    for item in reversed(made):
        item.stop()


def test_peers_answer_each_other_and_carry_the_watchdog_report(net):
    report = channels.WatchdogReport('hardware', True, 10.0, 3.0, 1.0,
                                     peers=('h1',))
    a = net.prober('h1', A, {'h2': B})
    b = net.prober('h2', B, {'h1': A}, report=lambda: report)
    a.start()
    b.start()
    assert _wait(lambda: a.peer_majority_within(WITHIN) and
                 b.peer_majority_within(WITHIN) and
                 'h2' in a.view().watchdogs, 10.0)
    view = a.view()
    assert view.heard['h2'] < WITHIN
    assert view.contact['h2'] < WITHIN
    assert view.watchdogs['h2'] == report
    b.stop()                          # h2 "hangs": nothing answers
    assert _wait(lambda: not a.peer_majority_within(WITHIN), 5.0)
    assert a.view().heard['h2'] >= WITHIN


def test_a_host_that_cannot_send_has_no_quorum_on_probes_it_receives(net):
    # h1's transmit path is dead: everything it sends to h2 is lost,
    # while h2's probes still reach it.  h2 reports it silent; h1 must
    # not feed its watchdog on h2's probes.
    a = net.prober('h1', A, {'h2': NOWHERE})
    b = net.prober('h2', B, {'h1': A})
    a.start()
    b.start()
    time.sleep(0.5)                   # five of h2's probe rounds
    assert _holds(lambda: not a.peer_majority_within(WITHIN), 1.5)
    view = a.view()
    assert view.heard['h2'] is None           # never answered
    assert view.contact['h2'] < WITHIN        # but its probes arrive
    assert b.view().heard['h1'] is None
    assert not b.peer_majority_within(WITHIN)
    # The isolation response asks the same question: did anyone answer?
    assert a.last_heard_at() is None


def test_replayed_datagrams_do_not_restore_a_lost_quorum(net):
    a = net.prober('h1', A, {'h2': RELAY_AB})
    b = net.prober('h2', B, {'h1': RELAY_BA})
    to_b = net.relay(RELAY_AB, B)
    to_a = net.relay(RELAY_BA, A)
    a.start()
    b.start()
    assert _wait(lambda: a.peer_majority_within(WITHIN), 5.0)
    b.stop()                          # h2 dies ...
    to_a.cut()
    to_b.cut()
    assert _wait(lambda: not a.peer_majority_within(WITHIN), 5.0)
    captured = list(to_a.copies[-40:])    # ... but its datagrams were kept
    assert captured

    def replayed_without_quorum():
        net.replay(captured, A)
        return not a.peer_majority_within(WITHIN)
    assert _holds(replayed_without_quorum, 1.5)
    assert a.view().heard['h2'] >= WITHIN
    assert a.refused[peers_lib.REPLAYED] > 0


def test_an_answer_older_than_its_window_is_refused(net):
    # Every datagram from h2 to h1 is held back a whole second (an
    # attacker delaying them, or a congested link): an answer that old
    # says nothing of h2 now.
    a = net.prober('h1', A, {'h2': B})
    b = net.prober('h2', B, {'h1': RELAY_BA})
    net.relay(RELAY_BA, A, delay=1.0)
    a.start()
    b.start()
    time.sleep(1.5)                   # the first answers arrive late
    assert _holds(lambda: not a.peer_majority_within(WITHIN), 1.0)
    assert a.view().heard['h2'] is None
    assert a.refused[peers_lib.STALE] > 0


def test_an_answer_to_another_prober_is_refused(net):
    # h2 answers h3's probes; those answers, sent to h1, are addressed
    # to h3 and echo nonces h1 never issued.
    a = net.prober('h1', A, {'h2': B})
    b = net.prober('h2', B, {'h1': A, 'h3': RELAY_BC})
    c = net.prober('h3', C, {'h2': B})
    to_c = net.relay(RELAY_BC, C)
    for prober in (a, b, c):
        prober.start()
    assert _wait(lambda: a.peer_majority_within(WITHIN) and
                 c.peer_majority_within(WITHIN), 5.0)
    b.stop()
    to_c.cut()
    assert _wait(lambda: not a.peer_majority_within(WITHIN), 5.0)
    captured = list(to_c.copies[-40:])

    def replayed_without_quorum():
        net.replay(captured, A)
        return not a.peer_majority_within(WITHIN)
    assert _holds(replayed_without_quorum, 1.0)
    assert a.refused[peers_lib.MISADDRESSED] > 0


def test_a_wrong_key_is_never_heard(net):
    a = net.prober('h1', A, {'h2': B}, key='one')
    b = net.prober('h2', B, {'h1': A}, key='two')
    a.start()
    b.start()
    time.sleep(0.6)
    assert a.view().heard['h2'] is None
    assert b.view().heard['h1'] is None
    assert a.view().contact['h2'] is None
    assert a.refused[peers_lib.BAD] > 0


def test_the_segment_key_is_required():
    with pytest.raises(peers_lib.PeerConfigError, match='key'):
        peers_lib.PeerProber('h1', A, 0, {'h2': B}, INTERVAL, key=None)
