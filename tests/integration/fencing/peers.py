"""Real BMC peers on loopback: pyghmi's fakebmc and sushy-tools' emulator.

Each peer runs in a child process on a free loopback port and is stopped
by its own pid.  When a peer's executable is missing the tests skip, except
under CI (CI=true), where they fail.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile

import requests

from tests.integration.services import skip_or_fail  # noqa: F401 (tests use it)
from tests.integration.services import wait_until  # noqa: F401

VENV_BIN = os.path.dirname(sys.executable)

FAKEBMC_USER = 'admin'
FAKEBMC_PASSWORD = 'Ipmi-Pa55-qrs'

# pyghmi's fakebmc script hard-codes admin/password ("password" is also a
# word of every auth error message, so a leak check could not tell): run
# the same FakeBmc class with our own credentials.
# The fourth argument: how many power-off requests to refuse (IPMI
# completion code 0xC0, "node busy") before obeying, as a BMC busy with
# another transition does.
FAKEBMC_MAIN = (
    'import sys\n'
    'from pyghmi.cmd.fakebmc import FakeBmc\n'
    'class Bmc(FakeBmc):\n'
    '    refusals = int(sys.argv[4])\n'
    '    def power_off(self):\n'
    '        if self.refusals > 0:\n'
    '            self.refusals -= 1\n'
    '            print("refusing a power-off request", flush=True)\n'
    '            return 0xC0\n'
    '        return super().power_off()\n'
    'Bmc({sys.argv[1]: sys.argv[2]}, port=int(sys.argv[3])).listen()\n')

REDFISH_USER = 'fence'
REDFISH_PASSWORD = 'Redfish-Pa55-xyz'


def free_port(kind):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def executable(name):
    path = os.path.join(VENV_BIN, name)
    if os.path.exists(path):
        return path
    found = shutil.which(name)
    if not found:
        skip_or_fail('%s is not installed' % name)
    return found


class Peer:
    def __init__(self, argv, log_path):
        self.log = open(log_path, 'wb')
        self.process = subprocess.Popen(argv, stdout=self.log,
                                        stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def check_alive(self):
        if self.process.poll() is not None:
            raise AssertionError('peer exited with %s' %
                                 self.process.returncode)

    def freeze(self):
        """SIGSTOP: the peer stops answering (requests time out)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.process.pid, signal.SIGCONT)

    def stop(self):
        if self.process.poll() is None:
            self.thaw()
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


class FakeBMC(Peer):
    """pyghmi's fakebmc (cipher suite 3 only); starts powered off."""

    def __init__(self, workdir, refuse_power_off=0):
        """``refuse_power_off``: power-off requests refused before one is
        obeyed."""
        if not shutil.which('ipmitool'):
            skip_or_fail('ipmitool is not installed')
        self.port = free_port(socket.SOCK_DGRAM)
        executable('fakebmc')  # skip/fail clearly when pyghmi is missing
        super().__init__([sys.executable, '-c', FAKEBMC_MAIN, FAKEBMC_USER,
                          FAKEBMC_PASSWORD, str(self.port),
                          str(refuse_power_off)],
                         os.path.join(workdir, 'fakebmc.log'))
        wait_until(lambda: self.power('status') is not None, 15, 'fakebmc')

    def power(self, action):
        """Drive the BMC with ipmitool, independently of the driver."""
        self.check_alive()
        completed = subprocess.run(
            ['ipmitool', '-I', 'lanplus', '-C', '3', '-N', '1', '-R', '1',
             '-H', '127.0.0.1', '-p', str(self.port), '-U', FAKEBMC_USER,
             '-E', 'chassis', 'power', action],
            env=dict(os.environ, IPMI_PASSWORD=FAKEBMC_PASSWORD),
            capture_output=True, text=True, timeout=15)
        if completed.returncode != 0:
            return None
        if action == 'status':
            return completed.stdout.strip().rsplit(' ', 1)[-1]
        return completed.stdout.strip()


EMULATOR_CONFIG = """
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_STATE_DIR = %(state)r
SUSHY_EMULATOR_AUTH_FILE = %(htpasswd)r
SUSHY_EMULATOR_FAKE_SYSTEMS = %(systems)r
"""


class RedfishEmulator(Peer):
    """sushy-tools' emulator with its fake driver and basic auth.

    The fake driver applies a power change 1-11 s after the request, so
    every test gets its own system, created in the power state it needs.
    """

    def __init__(self, workdir, systems):
        import bcrypt
        self.port = free_port(socket.SOCK_STREAM)
        self.url = 'http://127.0.0.1:%d' % self.port
        htpasswd = os.path.join(workdir, 'htpasswd')
        with open(htpasswd, 'w') as f:
            f.write('%s:%s\n' % (REDFISH_USER, bcrypt.hashpw(
                REDFISH_PASSWORD.encode(), bcrypt.gensalt(4)).decode()))
        self.systems = {
            name: {'uuid': '00000000-0000-0000-0000-%012d' % index,
                   'name': name, 'power_state': state, 'nics': []}
            for index, (name, state) in enumerate(sorted(systems.items()))}
        config = os.path.join(workdir, 'emulator.conf')
        with open(config, 'w') as f:
            f.write(EMULATOR_CONFIG % {
                'state': os.path.join(workdir, 'state'),
                'htpasswd': htpasswd,
                'systems': list(self.systems.values())})
        super().__init__([executable('sushy-emulator'), '--config', config,
                          '--port', str(self.port)],
                         os.path.join(workdir, 'emulator.log'))
        wait_until(self._ready, 30, 'sushy-emulator')

    def _ready(self):
        self.check_alive()
        try:
            return requests.get(self.url + '/redfish/v1/',
                                timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def system_id(self, name):
        return self.systems[name]['uuid']

    def power_state(self, name):
        """The emulator's own view of a system's power, read over HTTP."""
        answer = requests.get(
            '%s/redfish/v1/Systems/%s' % (self.url, self.system_id(name)),
            auth=(REDFISH_USER, REDFISH_PASSWORD), timeout=5)
        answer.raise_for_status()
        return answer.json()['PowerState']


def workdir(testcase):
    path = tempfile.mkdtemp(prefix='nova-ha-fencing-')
    testcase.addClassCleanup(shutil.rmtree, path, ignore_errors=True)
    return path
