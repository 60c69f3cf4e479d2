"""Probes of the segment peers over the second network.

Every ``probe_interval`` the monitor sends each peer a UDP probe; a peer's
monitor answers it with an ack that carries its watchdog report.  The
answering is done by the monitor process itself, not the kernel: a host
whose processes are frozen does not answer, though its kernel would still
accept a TCP connection.  A probe received is as good as an answer: the
peer that sent it is alive.

``view()`` is what this monitor publishes with its host heartbeat (see
servicegroup.channels.PeerView); ``peer_majority_within(seconds)`` is the
peer half of the quorum that the watchdog is fed on.

Datagrams carry an HMAC-SHA256 when ``[monitor_peers] key`` is set; a
datagram that does not verify, or does not parse, is dropped and counted
(logged once a minute), never fatal.
"""

import hashlib
import hmac
import json
import socket
import threading
import time

from oslo_log import log as logging

from nova_ha.servicegroup import channels

LOG = logging.getLogger(__name__)

MAX_DATAGRAM = 4096
BAD_LOG_INTERVAL = 60.0


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


class PeerProber:
    """Probe ``peers`` ({host: address}) and answer their probes."""

    def __init__(self, host, address, port, peers, interval, key=None,
                 watchdog_report=None, clock=time.monotonic,
                 wall=time.time):
        self.host = host
        self.port = port
        self.peers = dict(peers)
        self.interval = interval
        self._key = key.encode() if key else None
        # A callable -> channels.WatchdogReport (or None): announced in
        # every answer.
        self._watchdog_report = watchdog_report or (lambda: None)
        self._clock = clock
        self._wall = wall
        self._heard = {}          # peer -> monotonic time
        self._watchdogs = {}      # peer -> WatchdogReport
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._bad = 0
        self._bad_logged = 0.0
        self._seq = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((address, port))
        self._sock.settimeout(0.2)

    @classmethod
    def from_conf(cls, conf, host, watchdog_report=None):
        options = conf.monitor_peers
        return cls(host, options.address, options.port,
                   parse_peers(options.peers, host), options.probe_interval,
                   key=options.key, watchdog_report=watchdog_report)

    # -- wire --------------------------------------------------------------

    def _sign(self, message):
        body = json.dumps(message, sort_keys=True).encode()
        if self._key is None:
            return body
        digest = hmac.new(self._key, body, hashlib.sha256).hexdigest()
        return json.dumps({'m': message, 's': digest},
                          sort_keys=True).encode()

    def _open(self, data):
        """The message in a datagram, or None."""
        try:
            decoded = json.loads(data.decode())
        except (UnicodeDecodeError, ValueError):
            return None
        if self._key is not None:
            if not isinstance(decoded, dict) or 'm' not in decoded:
                return None
            body = json.dumps(decoded['m'], sort_keys=True).encode()
            want = hmac.new(self._key, body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(want, str(decoded.get('s'))):
                return None
            decoded = decoded['m']
        if not isinstance(decoded, dict) or decoded.get('t') not in (
                'probe', 'ack') or decoded.get('from') not in self.peers:
            return None
        return decoded

    def _send(self, peer, message):
        try:
            self._sock.sendto(self._sign(message),
                              (self.peers[peer], self.port))
        except OSError as e:
            # A cut link: the peer is simply not heard.
            LOG.debug('probe to %s failed: %s', peer, e)

    def _heard_from(self, peer, report=None):
        with self._lock:
            self._heard[peer] = self._clock()
            if report is not None:
                self._watchdogs[peer] = report

    def _bad_datagram(self, sender):
        self._bad += 1
        now = self._clock()
        if now - self._bad_logged >= BAD_LOG_INTERVAL:
            self._bad_logged = now
            LOG.warning('dropped %d probe datagram(s) that did not verify or '
                        'parse (latest from %s): check [monitor_peers] key '
                        'and peers on every host of the segment',
                        self._bad, sender)

    # -- loops ---------------------------------------------------------------

    def start(self):
        for target, name in ((self._answer_loop, 'nova-ha-peer-answers'),
                             (self._probe_loop, 'nova-ha-peer-probes')):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        LOG.info('probing peers %s every %.2fs on port %d',
                 ', '.join('%s (%s)' % p for p in sorted(self.peers.items()))
                 or 'none', self.interval, self.port)

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
            message = self._open(data)
            if message is None:
                self._bad_datagram(sender[0])
                continue
            peer = message['from']
            if message['t'] == 'probe':
                self._heard_from(peer)
                report = self._watchdog_report()
                self._send(peer, {'t': 'ack', 'from': self.host,
                                  'n': message.get('n'),
                                  'wd': report.to_dict() if report else None})
            else:
                self._heard_from(peer, channels.WatchdogReport.from_dict(
                    message.get('wd')))

    def _probe_loop(self):
        due = self._clock()
        while not self._stop.is_set():
            self._seq += 1
            for peer in sorted(self.peers):
                self._send(peer, {'t': 'probe', 'from': self.host,
                                  'n': self._seq})
            due = max(due + self.interval, self._clock())
            self._stop.wait(max(0.0, due - self._clock()))

    # -- what it heard -------------------------------------------------------

    def view(self):
        """This monitor's channels.PeerView, stamped with the wall clock."""
        now = self._clock()
        with self._lock:
            heard = {p: round(now - at, 3) for p, at in self._heard.items()}
            watchdogs = dict(self._watchdogs)
        for peer in self.peers:
            heard.setdefault(peer, None)
        return channels.PeerView(observer=self.host, at=self._wall(),
                                 heard=heard, watchdogs=watchdogs,
                                 watchdog=self._watchdog_report())

    def peer_majority_within(self, seconds):
        """A majority of the peers was heard within ``seconds`` (False
        without peers: they give no quorum)."""
        if not self.peers:
            return False
        now = self._clock()
        with self._lock:
            recent = sum(1 for p in self.peers
                         if now - self._heard.get(p, float('-inf'))
                         <= seconds)
        return recent >= channels.majority(len(self.peers))

    def last_heard_at(self):
        """Wall-clock time any peer was last heard, None if never."""
        with self._lock:
            latest = max(self._heard.values(), default=None)
        if latest is None:
            return None
        return self._wall() - (self._clock() - latest)
