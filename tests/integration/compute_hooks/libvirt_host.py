"""A real libvirtd with QEMU (software emulation) and tiny guests.

``require_libvirtd()`` leaves a libvirtd that answers on qemu:///system
alone; otherwise it configures this machine for a root-run libvirtd and
starts virtlogd and libvirtd (idempotent):

- /etc/libvirt/qemu.conf: ``user``/``group`` root and ``security_driver``
  none (no AppArmor/SELinux, no unprivileged QEMU user in a sandbox);
- the ``libvirt-qemu`` system user Debian's libvirt resolves at start-up
  even when qemu.conf names root (libvirt-daemon-system creates it; the
  lighter packages .ci/run installs do not);
- /var/log/libvirt, where both daemons log.

It skips the tests when that is impossible (not root, binaries missing,
libvirtd does not come up), except under CI=true, where it fails them.

Guests (``Guests``) are persistent TCG domains with 32 MiB, no network, no
graphics and at most a one-sector boot disk: no OS, or one of two
hand-assembled boot sectors (below) that make a real guest shutdown and a
real guest panic possible without a guest OS.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

import libvirt

from tests.integration.services import skip_or_fail
from tests.integration.services import wait_until

URI = 'qemu:///system'
QEMU_CONF = '/etc/libvirt/qemu.conf'
QEMU_SETTINGS = (('user', '"root"'), ('group', '"root"'),
                 ('security_driver', '"none"'))
QEMU_BUILTIN_USER = 'libvirt-qemu'
LOG_DIR = '/var/log/libvirt'
LIBVIRTD_PIDFILE = '/run/libvirtd.pid'
VIRTLOGD_SOCKET = '/run/libvirt/virtlogd-sock'
QEMU_PIDFILE = '/run/libvirt/qemu/%s.pid'
EMULATOR = 'qemu-system-x86_64'
START_TIMEOUT = 30

# 16-bit boot sector (BIOS loads it at 0x7c00).  Waits for the ACPI power
# button and powers off, as a guest OS does on `virsh shutdown`:
#   sti                 fb          (timer interrupts end each hlt)
#   mov dx, 0x602       ba 02 06    PIIX4 PM1a_EN (PM base 0x600 on 'pc')
#   mov ax, 0x0100      b8 00 01    PWRBTN_EN
#   out dx, ax          ef
# wait:
#   hlt                 f4
#   mov dx, 0x600       ba 00 06    PM1a_STS
#   in ax, dx           ed
#   test ax, 0x0100     a9 00 01    PWRBTN_STS
#   jz wait             74 f6
#   mov dx, 0x604       ba 04 06    PM1a_CNT
#   mov ax, 0x2000      b8 00 20    SLP_EN, SLP_TYP 0 = soft off (S5)
#   out dx, ax          ef
# halt:
#   hlt                 f4
#   jmp halt            eb fd
POWER_BUTTON_GUEST = bytes.fromhex(
    'fb ba0206 b80001 ef f4 ba0006 ed a90001 74f6 ba0406 b80020 ef f4 ebfd')
# Panics at once through the ISA pvpanic device (port 0x505, bit 0):
#   mov dx, 0x505       ba 05 05
#   mov al, 1           b0 01
#   out dx, al          ee
# halt:
#   hlt                 f4
#   jmp halt            eb fd
PANIC_GUEST = bytes.fromhex('ba0505 b001 ee f4 ebfd')


def _answers():
    try:
        libvirt.open(URI).close()
        return True
    except libvirt.libvirtError:
        return False


def _socket_answers(path):
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(path)
        return True
    except OSError:
        return False


def _setting(line):
    """The key a qemu.conf line sets (None for comments and blanks)."""
    text = line.strip()
    if not text or text.startswith('#'):
        return None
    return text.split('=', 1)[0].strip()


def _configure_qemu_conf():
    """Set QEMU_SETTINGS in qemu.conf, keeping every other line; written
    only when something changes."""
    keys = {key for key, _ in QEMU_SETTINGS}
    wanted = ['%s = %s' % item for item in QEMU_SETTINGS]
    try:
        with open(QEMU_CONF) as source:
            lines = source.read().splitlines()
    except FileNotFoundError:
        lines = []
    if sorted(line.strip() for line in lines
              if _setting(line) in keys) == sorted(wanted):
        return
    kept = [line for line in lines if _setting(line) not in keys]
    os.makedirs(os.path.dirname(QEMU_CONF), exist_ok=True)
    with open(QEMU_CONF, 'w') as target:
        target.write('\n'.join(
            kept + ['# nova-ha tests: QEMU run by root in a sandbox'] +
            wanted) + '\n')


def _prepare():
    if os.geteuid() != 0:
        skip_or_fail('a system libvirtd needs root')
    missing = [name for name in ('libvirtd', 'virtlogd', 'virsh', EMULATOR)
               if shutil.which(name) is None]
    if missing:
        skip_or_fail('not installed: %s (.ci/run installs libvirt-daemon, '
                     'libvirt-daemon-driver-qemu, libvirt-clients, '
                     'qemu-system-x86)' % ', '.join(missing))
    try:
        pwd.getpwnam(QEMU_BUILTIN_USER)
    except KeyError:
        subprocess.run(['useradd', '--system', '--no-create-home',
                        '--user-group', '--shell', '/usr/sbin/nologin',
                        QEMU_BUILTIN_USER], check=True)
    _configure_qemu_conf()
    os.makedirs(LOG_DIR, exist_ok=True)


def start_libvirtd(when_up=None):
    """Start virtlogd (if needed) and libvirtd, wait until it answers, then
    call ``when_up`` at once (while libvirtd is still re-attaching to the
    running guests: it answers before it has finished)."""
    _prepare()
    if not _socket_answers(VIRTLOGD_SOCKET):
        subprocess.run(['virtlogd', '-d'], check=False)
    subprocess.run(['libvirtd', '-d'], check=False)
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers():
        if time.monotonic() > deadline:
            skip_or_fail('libvirtd did not come up; see %s/libvirtd.log' %
                         LOG_DIR)
        time.sleep(0.01)
    if when_up is not None:
        when_up()


def require_libvirtd():
    if not _answers():
        start_libvirtd()


def kill_libvirtd():
    """SIGKILL libvirtd (a crash: QEMU processes live on) and wait until it
    is gone."""
    with open(LIBVIRTD_PIDFILE) as pidfile:
        pid = int(pidfile.read().strip())
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not os.path.exists('/proc/%d' % pid) or
               _zombie(pid), 10, 'libvirtd %d to exit' % pid)


def _zombie(pid):
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except FileNotFoundError:
        return True


def domain_xml(name, domain_uuid, boot_image=None, panic_device=False):
    disk = ("<disk type='file' device='disk'><driver name='qemu' "
            "type='raw'/><source file='%s'/><target dev='hda' bus='ide'/>"
            "</disk>" % boot_image) if boot_image else ''
    panic = ("<panic model='isa'><address type='isa' iobase='0x505'/>"
             "</panic>") if panic_device else ''
    return """<domain type='qemu'>
  <name>%s</name><uuid>%s</uuid>
  <memory unit='MiB'>32</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <devices>
    <emulator>%s</emulator>%s
    <serial type='null'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>%s
  </devices>
</domain>""" % (name, domain_uuid, shutil.which(EMULATOR), disk, panic)


class Guests:
    """Tiny persistent guests, destroyed and undefined by ``remove_all``."""

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix='nova-ha-guests-')
        self.names = []

    def _boot_image(self, program):
        path = os.path.join(self._dir.name, '%s.img' % program.hex()[:16])
        with open(path, 'wb') as image:
            image.write(program + bytes(510 - len(program)) + b'\x55\xaa')
        return path

    def start(self, program=None, panic_device=False):
        """Define and start a guest; returns (name, uuid)."""
        name = 'nova-ha-test-%s' % uuid.uuid4().hex[:8]
        domain_uuid = str(uuid.uuid4())
        xml = domain_xml(name, domain_uuid,
                         self._boot_image(program) if program else None,
                         panic_device)
        conn = libvirt.open(URI)
        try:
            domain = conn.defineXML(xml)
            self.names.append(name)
            domain.create()
        finally:
            conn.close()
        return name, domain_uuid

    def qemu_pid(self, name):
        with open(QEMU_PIDFILE % name) as pidfile:
            return int(pidfile.read().strip())

    def kill_qemu(self, name):
        """SIGKILL the guest's QEMU process; returns the monotonic time."""
        pid = self.qemu_pid(name)
        killed = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        return killed

    def virsh(self, *args):
        return subprocess.run(['virsh', '-q', '-c', URI] + list(args),
                              check=True, capture_output=True, text=True)

    def remove_all(self):
        if not _answers():
            start_libvirtd()
        conn = libvirt.open(URI)
        try:
            for name in self.names:
                try:
                    domain = conn.lookupByName(name)
                except libvirt.libvirtError:
                    continue
                if domain.isActive():
                    domain.destroy()
                domain.undefine()
        finally:
            conn.close()
        self.names = []
        self._dir.cleanup()
