"""Probes of the segment peers over the second network.

Every ``probe_interval`` the monitor sends each peer a UDP probe; a peer's
monitor answers it with an ack that carries its watchdog report and
whether its own coordination heartbeat currently reaches the backend
(``cb``).  The answering is done by the monitor process itself, not the
kernel: a host whose processes are frozen does not answer, though its
kernel would still accept a TCP connection.

Challenge and response: every probe carries a fresh random nonce and
names both ends (``from``, ``to``); the answer echoes the nonce and names
both ends the other way.  An answer counts only for a nonce this monitor
issued to that very peer, not answered yet, and issued at most
``ANSWER_WINDOW`` probe intervals before the answer arrived.  Only such
answers prove that the peer is alive now *and* that this host's own
datagrams get out, so only they count for the watchdog's quorum
(``quorum_state``, for ``channels.holds_quorum``).  A probe received from
a peer is mere contact: it proves the way in, and a host whose way out is
dead still receives them.

``cb`` is signed with the rest of the answer: true when the answering
monitor's host heartbeat reached the coordination backend within its
``[watchdog] quorum_timeout``, false when it did not, null when the
monitor has no host heartbeat (it cannot tell).  The flag of each peer's
latest accepted answer is kept: a host whose answering peers all say
false faces an outage of the backend, not its own isolation, and holds
quorum (channels.holds_quorum); a missing or null flag is never taken
for a lost backend.

``view()`` publishes both per peer (servicegroup.channels.PeerView):
``heard``, the age of its latest answer; ``contact``, the age of the
latest datagram from it that verified, probes included.

Every datagram is signed (HMAC-SHA256 with the segment's ``[monitor_peers]
key``, over the canonical JSON of the message); there is no unsigned mode.
A datagram refused (it does not verify or parse, is addressed to another
host, or answers a nonce that is unknown, already answered or too old) is
dropped and counted by reason, logged at most once a minute, never fatal.
"""

import collections
import dataclasses
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time

from oslo_log import log as logging

from nova_ha.servicegroup import channels

LOG = logging.getLogger(__name__)

MAX_DATAGRAM = 4096
BAD_LOG_INTERVAL = 60.0
# Bound the signature to this protocol: the key cannot be made to sign
# anything else that verifies here.
SIGNING_DOMAIN = b'nova-ha.peer-probe/1\n'
PROBE = 'probe'
ACK = 'ack'
MAX_NONCE = 64

# An answer counts only if it arrives within this many probe intervals of
# its probe.  On a working network an answer takes a round trip
# (milliseconds); two intervals let one through that a busy host sent a
# whole probe round late.  The bound is also what a delayed (held back)
# answer can overstate: the answer is recorded at its arrival, so the
# host may believe its peer up to two intervals (1 s with the default
# probe_interval) after the peer last heard it, which the engine's
# [watchdog_rung] margin (at least 1 s) covers.
ANSWER_WINDOW = 2.0
# Nonces are forgotten after this many windows (twenty probes of each
# peer); until then a late answer is refused as stale rather than as
# unknown, which says more in the log.
FORGET_AFTER = 10.0
# Answered nonces remembered per peer, to tell a replay from an unknown
# nonce in the log (both are refused either way).
ANSWERED_KEPT = 64

# Reasons a datagram is refused (PeerProber.refused counts them).
BAD = 'unverified or malformed'
MISADDRESSED = 'addressed to another host'
REPLAYED = 'answer to a nonce already answered'
UNKNOWN = 'answer to a nonce never issued to that peer'
STALE = 'answer too late for its probe'


class PeerConfigError(ValueError):
    pass


def parse_peers(entries, me):
    """``HOST=ADDRESS`` entries -> {host: address}."""
    peers = {}
    for entry in entries or ():
        host, sep, address = entry.partition('=')
        host, address = host.strip(), address.strip()
        if not sep or not host or not address:
            raise PeerConfigError('[monitor_peers] peers: %r is not '
                                  'HOST=ADDRESS' % entry)
        if host != me:
            peers[host] = address
    return peers


def canonical(message):
    return json.dumps(message, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=True)


def seal(key, message):
    """The datagram carrying ``message`` signed with ``key`` (bytes)."""
    body = canonical(message)
    digest = hmac.new(key, SIGNING_DOMAIN + body.encode(),
                      hashlib.sha256).hexdigest()
    return json.dumps({'m': body, 's': digest}).encode()


def unseal(key, data):
    """The message a datagram carries when its signature verifies, else
    None.  The body is parsed only once its signature verified."""
    try:
        envelope = json.loads(data.decode())
        body, digest = envelope['m'], envelope['s']
        if not isinstance(body, str) or not isinstance(digest, str):
            return None
        want = hmac.new(key, SIGNING_DOMAIN + body.encode(),
                        hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want.encode(), digest.encode()):
            return None
        message = json.loads(body)
    except (UnicodeError, ValueError, TypeError, KeyError):
        return None
    return message if isinstance(message, dict) else None


def _nonce_ok(nonce):
    return isinstance(nonce, str) and 0 < len(nonce) <= MAX_NONCE


@dataclasses.dataclass(frozen=True)
class QuorumState:
    """What ``channels.holds_quorum`` needs of the peers, read at once.

    Times are on the prober's clock (``now`` included).
    """

    now: float
    answered_at: dict     # peer -> arrival of its latest accepted answer
    backend_lost: dict    # peer -> its latest answer says it lost the
                          # coordination backend


class PeerProber:
    """Probe ``peers`` ({host: address}) and answer their probes."""

    def __init__(self, host, address, port, peers, interval, key=None,
                 watchdog_report=None, coordination_ok=None,
                 clock=time.monotonic, wall=time.time):
        if peers and not key:
            raise PeerConfigError(
                '[monitor_peers] key is required when peers are configured: '
                'probes and answers are always signed (set the same key on '
                'every host of the segment)')
        self.host = host
        self.port = port
        self.peers = dict(peers)
        self.interval = interval
        self.answer_window = ANSWER_WINDOW * interval
        self._key = key.encode() if key else None
        # A callable -> channels.WatchdogReport (or None): announced in
        # every answer.
        self._watchdog_report = watchdog_report or (lambda: None)
        # A callable -> True (this monitor's host heartbeat reaches the
        # coordination backend), False (it does not), None (no heartbeat:
        # unknown): announced in every answer.
        self._coordination_ok = coordination_ok or (lambda: None)
        self._clock = clock
        self._wall = wall
        self._answered = {}       # peer -> monotonic arrival of an answer
        self._contact = {}        # peer -> monotonic arrival of anything
        self._watchdogs = {}      # peer -> WatchdogReport
        self._backend_lost = {}   # peer -> flag of its latest answer
        self._issued = collections.defaultdict(dict)  # peer -> nonce -> t
        self._done = collections.defaultdict(
            lambda: collections.deque(maxlen=ANSWERED_KEPT))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self.refused = collections.Counter()
        self._refused_logged = collections.Counter()
        self._log_at = float('-inf')
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, port))
        self._sock.settimeout(0.2)

    @classmethod
    def from_conf(cls, conf, host, watchdog_report=None,
                  coordination_ok=None):
        options = conf.monitor_peers
        return cls(host, options.address, options.port,
                   parse_peers(options.peers, host), options.probe_interval,
                   key=options.key, watchdog_report=watchdog_report,
                   coordination_ok=coordination_ok)

    def __repr__(self):
        # Never the key.
        return '<PeerProber %s: %s>' % (self.host, ', '.join(sorted(
            self.peers)) or 'no peers')

    # -- wire --------------------------------------------------------------

    def _send(self, peer, message):
        # Always to the peer's configured address, never to where a
        # datagram came from: a forged source gets nothing back.
        try:
            self._sock.sendto(seal(self._key, message),
                              (self.peers[peer], self.port))
        except OSError as e:
            # A cut link: the peer is simply not heard.
            LOG.debug('datagram to %s failed: %s', peer, e)

    def _open(self, data):
        """(message, None) for a datagram addressed to us by a peer, else
        (None, the reason it is refused)."""
        if self._key is None:
            return None, BAD
        message = unseal(self._key, data)
        if message is None or message.get('t') not in (PROBE, ACK) or \
                message.get('from') not in self.peers or \
                not _nonce_ok(message.get('nonce')):
            return None, BAD
        if message.get('to') != self.host:
            return None, MISADDRESSED
        return message, None

    def _refuse(self, reason, sender):
        with self._lock:
            self.refused[reason] += 1
            now = self._clock()
            if now - self._log_at < BAD_LOG_INTERVAL:
                return
            self._log_at = now
            new = self.refused - self._refused_logged
            self._refused_logged = collections.Counter(self.refused)
        LOG.warning('peer probe datagrams refused since the last report: '
                    '%s (latest from %s); check [monitor_peers] key and '
                    'peers on every host of the segment: answers replayed, '
                    'misaddressed or late may also be an attack on the '
                    'probe network', '; '.join(
                        '%d %s' % (n, r) for r, n in sorted(new.items())),
                    sender)

    # -- loops ---------------------------------------------------------------

    def start(self):
        for target, name in ((self._answer_loop, 'nova-ha-peer-answers'),
                             (self._probe_loop, 'nova-ha-peer-probes')):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        LOG.info('probing peers %s every %.2fs on port %d (answers count '
                 'within %.2fs of their probe)',
                 ', '.join('%s (%s)' % p for p in sorted(self.peers.items()))
                 or 'none', self.interval, self.port, self.answer_window)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(2.0)
        self._sock.close()

    def _answer_loop(self):
        while not self._stop.is_set():
            try:
                data, sender = self._sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                time.sleep(0.1)
                continue
            try:
                self._received(data, sender[0])
            except Exception:
                # Whatever a datagram holds, the prober keeps running.
                LOG.exception('peer probe datagram from %s not handled',
                              sender[0])

    def _received(self, data, sender):
        message, reason = self._open(data)
        if message is None:
            self._refuse(reason, sender)
        elif message['t'] == PROBE:
            self._answer(message)
        else:
            reason = self._take_answer(message)
            if reason is not None:
                self._refuse(reason, sender)

    def _answer(self, probe):
        peer = probe['from']
        # A probe cannot be told from a replayed one (its nonce is the
        # prober's): it counts as contact only, never as an answer.
        with self._lock:
            self._contact[peer] = self._clock()
        report = self._watchdog_report()
        reached = self._coordination_ok()
        self._send(peer, {'t': ACK, 'from': self.host, 'to': peer,
                          'nonce': probe['nonce'],
                          'wd': report.to_dict() if report else None,
                          'cb': None if reached is None else bool(reached)})

    def _take_answer(self, ack):
        """Record an answer to one of our probes; None when accepted,
        else the reason it is refused."""
        peer, nonce = ack['from'], ack['nonce']
        now = self._clock()
        with self._lock:
            issued = self._issued[peer].pop(nonce, None)
            if issued is None:
                return REPLAYED if nonce in self._done[peer] else UNKNOWN
            self._done[peer].append(nonce)
            if now - issued > self.answer_window:
                return STALE
            self._answered[peer] = self._contact[peer] = now
            report = channels.WatchdogReport.from_dict(ack.get('wd'))
            if report is not None:
                self._watchdogs[peer] = report
            else:
                self._watchdogs.pop(peer, None)
            # Only an explicit false says the backend is lost: an answer
            # without the flag (no heartbeat there, or a monitor from
            # before) says nothing of it.
            self._backend_lost[peer] = ack.get('cb') is False
        return None

    def _issue(self, peer):
        """A fresh nonce for a probe of ``peer``, remembered until
        answered or forgotten."""
        nonce = secrets.token_hex(16)
        now = self._clock()
        forget = FORGET_AFTER * self.answer_window
        with self._lock:
            issued = self._issued[peer]
            for old in [n for n, at in issued.items() if now - at > forget]:
                del issued[old]
            issued[nonce] = now
        return nonce

    def _probe_loop(self):
        due = self._clock()
        while not self._stop.is_set():
            for peer in sorted(self.peers):
                self._send(peer, {'t': PROBE, 'from': self.host, 'to': peer,
                                  'nonce': self._issue(peer)})
            due = max(due + self.interval, self._clock())
            self._stop.wait(max(0.0, due - self._clock()))

    # -- what it heard -------------------------------------------------------

    def _ages(self, times, now):
        ages = {p: round(now - at, 3) for p, at in times.items()
                if p in self.peers}
        for peer in self.peers:
            ages.setdefault(peer, None)
        return ages

    def view(self):
        """This monitor's channels.PeerView, stamped with the wall clock:
        ``heard`` the ages of the peers' answers to our probes,
        ``contact`` those of anything verified from them."""
        now = self._clock()
        with self._lock:
            heard = self._ages(self._answered, now)
            contact = self._ages(self._contact, now)
            watchdogs = dict(self._watchdogs)
        return channels.PeerView(observer=self.host, at=self._wall(),
                                 heard=heard, watchdogs=watchdogs,
                                 watchdog=self._watchdog_report(),
                                 contact=contact)

    def quorum_state(self):
        """The peers' answers as ``channels.holds_quorum`` takes them:
        when each peer last answered one of our own probes, and whether
        that answer said it lost the coordination backend, in one read."""
        with self._lock:
            now = self._clock()
            answered = {p: at for p, at in self._answered.items()
                        if p in self.peers}
            lost = {p: flag for p, flag in self._backend_lost.items()
                    if p in answered}
        return QuorumState(now=now, answered_at=answered, backend_lost=lost)

    def peer_majority_within(self, seconds):
        """A majority of the peers answered one of our own probes within
        ``seconds`` (False without peers: they give no quorum)."""
        state = self.quorum_state()
        return channels.peer_quorum(self.peers, state.answered_at, state.now,
                                    seconds)

    def last_heard_at(self):
        """Wall-clock time any peer last answered one of our probes, None
        if none ever did.

        Answers, not mere contact, for the isolation response too: the
        question there is whether the rest of the segment can still see
        this host, and only an answer proves that our datagrams reach a
        peer.  A host whose way out is dead still receives its peers'
        probes; counting them would keep its guests running while its
        peers report it silent and the engine evacuates them elsewhere.
        """
        with self._lock:
            latest = max(self._answered.values(), default=None)
        if latest is None:
            return None
        return self._wall() - (self._clock() - latest)
