"""Arm the host's watchdog and feed it only while the host holds quorum.

Kinds (``[watchdog] kind``): a watchdog device (``hardware``), the softdog
module (``softdog``, loaded with modprobe), or the software watchdog
process (``software``, nova_ha.compute_hooks.soft_watchdog); ``auto``
takes the first that works, in that order.

What a device really is comes from the kernel, not from what was asked
for: its ``identity`` in sysfs (/sys/class/watchdog/watchdogN), else the
one the driver gives (WDIOC_GETSUPPORT).  "Software Watchdog" is softdog
(a kernel timer: frozen with a wedged kernel), an identity naming IPMI is
the BMC's watchdog (it dies with the BMC, whose failure is what sends the
engine to the watchdog rung), anything else is hardware.  The kind found
is logged and announced to the segment peers in every probe answer
(``report()``), because the engine believes only an armed watchdog of a
kind it trusts.

``QuorumFeeder`` feeds every ``feed_interval`` while the host holds
quorum (channels.holds_quorum): within ``quorum_timeout``, its host
heartbeat reached the coordination backend, or a majority of the peers
answered its own probes, or every peer that answered says it lost the
backend too (an outage of the backend, not this host's isolation);
otherwise it stops feeding, and the watchdog fires ``timeout`` later.  It
announces the watchdog armed only while its last feed went through, with
the timings the engine's safe wait is made of, the answer window
included (how long after its probe an answer still counts).  A clean
stop disarms the watchdog (the magic close), so a stopped monitor does
not reset its host; a crashed one does, after ``timeout``, unless it is
restarted in time (then it feeds again).
"""

import fcntl
import os
import stat
import struct
import subprocess
import sys
import threading
import time

from oslo_log import log as logging

from nova_ha.servicegroup import channels
from nova_ha.servicegroup import self_fence

LOG = logging.getLogger(__name__)

# linux/watchdog.h: _IOWR('W', 6, int)
WDIOC_SETTIMEOUT = 0xC0045706
# linux/watchdog.h: _IOR('W', 0, struct watchdog_info), 40 bytes: options,
# firmware_version, identity[32]
WDIOC_GETSUPPORT = 0x80285700
MAGIC_CLOSE = b'V'

SYSFS_WATCHDOG = '/sys/class/watchdog'
SOFTDOG_IDENTITY = 'Software Watchdog'
# The misc device of the first watchdog (/dev/watchdog), 10:130.
MISC_MAJOR = 10
WATCHDOG_MINOR = 130
LEGACY_NAME = 'watchdog'


class WatchdogError(RuntimeError):
    pass


def kind_of_identity(identity):
    """The kind of a watchdog device from its driver's identity."""
    if identity.strip() == SOFTDOG_IDENTITY:
        return self_fence.SOFTDOG
    if 'ipmi' in identity.lower():
        return self_fence.IPMI
    return self_fence.HARDWARE


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _sysfs_name(device, sysfs):
    """The watchdogN entry of ``device``: by its device numbers when it is
    a character device, else by its name."""
    try:
        st = os.stat(device)
    except OSError:
        st = None
    if st is not None and stat.S_ISCHR(st.st_mode):
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        if (major, minor) == (MISC_MAJOR, WATCHDOG_MINOR):
            return 'watchdog0'
        numbers = '%d:%d' % (major, minor)
        try:
            entries = sorted(os.listdir(sysfs))
        except OSError:
            entries = []
        for entry in entries:
            if _read(os.path.join(sysfs, entry, 'dev')) == numbers:
                return entry
    name = os.path.basename(device)
    # The legacy /dev/watchdog is always the first one registered.
    return 'watchdog0' if name == LEGACY_NAME else name


def sysfs_identity(device, sysfs=SYSFS_WATCHDOG):
    """The identity sysfs gives the watchdog behind ``device``; None when
    it has none (no such entry, or a kernel without watchdog sysfs)."""
    identity = _read(os.path.join(sysfs, _sysfs_name(device, sysfs),
                                  'identity'))
    return identity or None


def driver_identity(fd):
    """The identity the driver of an open watchdog gives; None if none."""
    info = bytearray(40)
    try:
        fcntl.ioctl(fd, WDIOC_GETSUPPORT, info)
    except OSError:
        return None
    identity = bytes(info[8:]).split(b'\0')[0].decode('ascii', 'replace')
    return identity.strip() or None


def announced_kind(requested, device, identity):
    """(kind, warning or None): the kind a device is announced as.

    A device that cannot be identified is announced as softdog, never as
    hardware: engines believing hardware only must not count on it.
    """
    if identity is None:
        return self_fence.SOFTDOG, (
            'cannot tell which watchdog %s is (no sysfs identity, none from '
            'its driver): announced as %s, so that engines believing only '
            'hardware watchdogs do not count on it' % (
                device, self_fence.SOFTDOG))
    kind = kind_of_identity(identity)
    if requested == self_fence.HARDWARE and kind != self_fence.HARDWARE:
        return kind, (
            '[watchdog] kind = hardware, but %s is %r: armed and announced '
            'as %s; engines take the watchdog rung for this host only if '
            'their [watchdog_rung] kinds include %s' % (
                device, identity, kind, kind))
    return kind, None


class DeviceWatchdog:
    """A watchdog device: hardware, the BMC's (ipmi) or softdog's.

    ``kind`` is what the device turns out to be once armed (None before).
    """

    def __init__(self, requested, device, timeout, sysfs=SYSFS_WATCHDOG):
        self.requested = requested
        self.kind = None
        self.device = device
        self.timeout = timeout
        self._sysfs = sysfs
        self._fd = None

    def arm(self):
        try:
            self._fd = os.open(self.device, os.O_WRONLY)
        except OSError as e:
            raise WatchdogError('cannot open %s: %s' % (self.device, e))
        try:
            fcntl.ioctl(self._fd, WDIOC_SETTIMEOUT,
                        struct.pack('i', int(round(self.timeout))))
        except OSError as e:
            # Running with the device's own timeout would make the
            # announced one a lie: refuse.
            os.write(self._fd, MAGIC_CLOSE)
            os.close(self._fd)
            self._fd = None
            raise WatchdogError('%s refuses a %.0f s timeout: %s' % (
                self.device, self.timeout, e))
        identity = sysfs_identity(self.device, self._sysfs) or \
            driver_identity(self._fd)
        self.kind, warning = announced_kind(self.requested, self.device,
                                            identity)
        if warning:
            LOG.warning('%s', warning)
        else:
            LOG.info('%s is %r: a %s watchdog', self.device, identity,
                     self.kind)

    def feed(self):
        os.write(self._fd, b'\0')

    def disarm(self):
        if self._fd is not None:
            os.write(self._fd, MAGIC_CLOSE)
            os.close(self._fd)
            self._fd = None


class SoftwareWatchdog:
    """The soft_watchdog process, fed through its FIFO."""

    kind = self_fence.SOFTWARE

    def __init__(self, work_dir, timeout, kill_patterns, fire_command):
        self.timeout = timeout
        self.fifo = os.path.join(work_dir, 'feed')
        self.pid_file = os.path.join(work_dir, 'pid')
        self.log_file = os.path.join(work_dir, 'log')
        self._argv = [sys.executable, '-m',
                      'nova_ha.compute_hooks.soft_watchdog',
                      '--fifo', self.fifo, '--timeout', str(timeout)]
        for pattern in kill_patterns:
            self._argv += ['--kill', pattern]
        if fire_command:
            self._argv += ['--then', fire_command]
        self._work_dir = work_dir

    def _running(self):
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
            os.kill(pid, 0)
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                return b'soft_watchdog' in f.read()
        except (OSError, ValueError):
            return False

    def arm(self):
        os.makedirs(self._work_dir, exist_ok=True)
        if self._running():
            LOG.info('software watchdog already running (pid file %s): '
                     'feeding it', self.pid_file)
            self.feed()
            return
        # A FIFO without a reader is left from before a power loss.
        if os.path.exists(self.fifo):
            os.unlink(self.fifo)
        with open(self.log_file, 'ab') as log:
            process = subprocess.Popen(
                self._argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 5.0
        while True:
            try:
                self.feed()
                break
            except OSError as e:
                # Not created yet, or not yet open by the new process.
                if time.monotonic() > deadline or \
                        process.poll() is not None:
                    # Never leave an unfed watchdog behind: it would
                    # kill the guests of a healthy host.
                    process.kill()
                    raise WatchdogError('the software watchdog did not '
                                        'start (%s; see %s)' % (
                                            e, self.log_file))
                time.sleep(0.05)
        with open(self.pid_file, 'w') as f:
            f.write('%d\n' % process.pid)

    def _write(self, data):
        fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)

    def feed(self):
        self._write(b'.')

    def disarm(self):
        try:
            self._write(MAGIC_CLOSE)
        except OSError:
            pass


def _load_softdog(timeout):
    try:
        subprocess.run(['modprobe', 'softdog',
                        'soft_margin=%d' % int(round(timeout))],
                       timeout=10, check=True, capture_output=True)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def arm_from_conf(conf, sysfs=SYSFS_WATCHDOG):
    """The armed watchdog of ``[watchdog] kind``, or None for none; raises
    WatchdogError when the kind asked for cannot be armed.  A device is
    announced as what ``sysfs`` (or its driver) says it is."""
    options = conf.watchdog
    kind = options.kind
    if kind == 'none':
        return None
    candidates = []
    if kind in ('auto', self_fence.HARDWARE) and (
            kind == self_fence.HARDWARE or os.path.exists(options.device)):
        candidates.append(lambda: DeviceWatchdog(
            kind, options.device, options.timeout, sysfs))
    if kind in ('auto', self_fence.SOFTDOG):
        def softdog():
            if not os.path.exists(options.device) and \
                    not _load_softdog(options.timeout):
                raise WatchdogError('softdog cannot be loaded')
            return DeviceWatchdog(self_fence.SOFTDOG, options.device,
                                  options.timeout, sysfs)
        candidates.append(softdog)
    if kind in ('auto', self_fence.SOFTWARE):
        candidates.append(lambda: SoftwareWatchdog(
            options.work_dir, options.timeout, options.kill_patterns,
            options.fire_command))
    errors = []
    for make in candidates:
        try:
            watchdog = make()
            watchdog.arm()
        except (WatchdogError, OSError) as e:
            errors.append(str(e))
            continue
        LOG.info('watchdog armed: %s, %.1f s, fed every %.1f s while quorum '
                 'holds (quorum timeout %.1f s)', watchdog.kind,
                 options.timeout, options.feed_interval,
                 options.quorum_timeout)
        return watchdog
    raise WatchdogError('no %s watchdog could be armed: %s' % (
        kind, '; '.join(errors)))


class QuorumFeeder:
    """Feed ``watchdog`` while ``has_quorum(quorum_timeout)`` holds.

    :param peers: the peers whose answers count for the quorum, announced
        with the watchdog so that the engine bounds the quorum over them
    :param answer_window: how long after its probe the peer prober still
        accepts an answer (PeerProber.answer_window), announced so that
        the engine adds it to its safe wait
    """

    def __init__(self, watchdog, has_quorum, feed_interval, quorum_timeout,
                 peers=(), answer_window=0.0, clock=time.monotonic):
        self.watchdog = watchdog
        self._has_quorum = has_quorum
        self.feed_interval = feed_interval
        self.quorum_timeout = quorum_timeout
        self.peers = tuple(sorted(peers))
        self.answer_window = answer_window
        self._clock = clock
        self._stop = threading.Event()
        self._thread = None
        self.feeding = True
        # Armed just now, which fed it (or started its timer).
        self.last_feed_ok = True

    def report(self):
        """The watchdog as announced: armed only while its last feed went
        through (a dead software watchdog, a device gone, fire nothing)."""
        return channels.WatchdogReport(
            kind=self.watchdog.kind, armed=self.last_feed_ok,
            timeout=self.watchdog.timeout,
            quorum_timeout=self.quorum_timeout,
            feed_interval=self.feed_interval, peers=self.peers,
            answer_window=self.answer_window)

    def _feed(self):
        try:
            self.watchdog.feed()
        except OSError as e:
            if self.last_feed_ok:
                LOG.error('feeding the %s watchdog failed (%s): announced '
                          'as not armed, so engines do not count on it',
                          self.watchdog.kind, e)
            self.last_feed_ok = False
            return False
        if not self.last_feed_ok:
            LOG.warning('the %s watchdog is fed again: announced as armed',
                        self.watchdog.kind)
        self.last_feed_ok = True
        return True

    def tick(self):
        """One feeding decision; returns whether it fed."""
        if self._has_quorum(self.quorum_timeout):
            if not self.feeding:
                LOG.warning('quorum is back: feeding the %s watchdog again',
                            self.watchdog.kind)
            self.feeding = True
            return self._feed()
        if self.feeding:
            LOG.error('quorum lost: neither the coordination backend nor a '
                      'majority of the peers answered for %.1f s, and not '
                      'every peer that did has lost the backend too; the '
                      '%s watchdog is no longer fed and fires in %.1f s',
                      self.quorum_timeout, self.watchdog.kind,
                      self.watchdog.timeout)
        self.feeding = False
        return False

    def start(self):
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name='nova-ha-watchdog-feeder')
        self._thread.start()

    def _run(self):
        due = self._clock()
        while not self._stop.is_set():
            self.tick()
            due = max(due + self.feed_interval, self._clock())
            self._stop.wait(max(0.0, due - self._clock()))

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        self.watchdog.disarm()
        LOG.info('%s watchdog disarmed (clean stop)', self.watchdog.kind)
