"""The ipmitool command as an IPMI client (lanplus), for BMCs pyghmi cannot
talk to.

pyghmi proposes cipher suite 17 and only falls back to suite 3 when the BMC
refuses 17; BMCs that accept the proposal and then answer in suite 3 (pyghmi's
own fakebmc does) break its session setup.  ipmitool lets us name the suite.

The password is handed over in the child's environment (``IPMI_PASSWORD``
with ``-E``), never on the command line where any user could read it from
the process list.  ``-v`` is passed so that failures say why (a wrong
password and an unreachable BMC otherwise print the same last line); the
output is parsed by the pure functions below.
"""

import os
import re
import subprocess

from nova_ha.fencing import base

DEFAULT_CIPHER_SUITE = 3
DEFAULT_PORT = 623

#: Extra seconds the child may take beyond its own retry budget before it
#: is killed (process start-up, session close).
KILL_MARGIN = 5.0

_POWER_STATUS = re.compile(r'Chassis Power is (on|off)', re.IGNORECASE)

# Output patterns, checked in order; the first match classifies a failure.
_AUTH_PATTERNS = (
    (re.compile(r'RAKP 2 HMAC is invalid', re.I),
     'the BMC refused the password of user %(user)s'),
    (re.compile(r'unauthorized name', re.I),
     'the BMC does not know user %(user)s'),
    (re.compile(r'no response from RAKP 1', re.I),
     'the BMC ignored the login of user %(user)s (unknown user name?)'),
    (re.compile(r'insufficient privilege|Set Session Privilege Level', re.I),
     'user %(user)s lacks the OPERATOR privilege needed for power control'),
    (re.compile(r'RAKP \d message indicates an error', re.I),
     'the BMC rejected the login of user %(user)s'),
)
_UNREACHABLE_PATTERNS = (
    re.compile(r'Get Auth Capabilities error', re.I),
    re.compile(r'No response from remote controller', re.I),
    re.compile(r'Unable to establish IPMI v2 / RMCP\+ session', re.I),
    re.compile(r'Address lookup for .* failed', re.I),
)


def retries_for(request_timeout):
    """ipmitool's ``-R`` for a call budget of ``request_timeout`` seconds.

    With ``-N 1`` ipmitool waits about R*(R+1) seconds before giving up
    (measured with ipmitool 1.8.19: R=1 2 s, R=2 6 s, R=4 20 s).
    """
    retries = 1
    while (retries + 1) * (retries + 2) <= request_timeout:
        retries += 1
    return retries


def build_command(executable, address, port, username, cipher_suite,
                  request_timeout, action):
    """The argv of one ipmitool call; ``action`` is 'status' or 'off'.
    The password is not in it (see :func:`environment`)."""
    return [executable or 'ipmitool', '-v', '-I', 'lanplus',
            '-H', address, '-p', str(port or DEFAULT_PORT),
            '-U', username or '', '-E', '-L', 'OPERATOR',
            '-C', str(DEFAULT_CIPHER_SUITE if cipher_suite is None
                      else cipher_suite),
            '-N', '1', '-R', str(retries_for(request_timeout)),
            'chassis', 'power', action]


def environment(password):
    env = dict(os.environ)
    env['IPMI_PASSWORD'] = password or ''
    return env


def parse_power_status(output):
    """PowerState from the output of ``chassis power status``."""
    match = _POWER_STATUS.search(output)
    if not match:
        return base.PowerState.UNKNOWN
    return base.PowerState(match.group(1).lower())


def classify_failure(returncode, output, address, username):
    """The contract's exception for a failed ipmitool call."""
    for pattern, message in _AUTH_PATTERNS:
        if pattern.search(output):
            return base.BMCAuthError('IPMI BMC %s: %s' % (
                address, message % {'user': username}))
    for pattern in _UNREACHABLE_PATTERNS:
        if pattern.search(output):
            return base.BMCUnreachable(
                'IPMI BMC %s did not answer (ipmitool: no session)' % address)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    last = lines[-1] if lines else 'no output'
    return base.FenceError('ipmitool failed for BMC %s (exit %s): %s' % (
        address, returncode, last))


class IpmitoolClient:
    """Runs ipmitool for one BMC."""

    def __init__(self, bmc):
        self.bmc = bmc
        self.request_timeout = float(
            bmc.options.get('request_timeout') or 5.0)
        self.cipher_suite = bmc.options.get('cipher_suite')
        self.executable = bmc.options.get('ipmitool_path') or 'ipmitool'

    def _run(self, action):
        argv = build_command(self.executable, self.bmc.address, self.bmc.port,
                             self.bmc.username, self.cipher_suite,
                             self.request_timeout, action)
        retries = retries_for(self.request_timeout)
        try:
            completed = subprocess.run(
                argv, env=environment(self.bmc.password),
                stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=retries * (retries + 1) + KILL_MARGIN, check=False)
        except FileNotFoundError:
            raise base.FenceConfigError(
                'ipmitool is not installed (looked for %s)' % self.executable
            ) from None
        except subprocess.TimeoutExpired:
            raise base.BMCUnreachable(
                'IPMI BMC %s: ipmitool did not finish in time' %
                self.bmc.address) from None
        output = (completed.stdout or '') + '\n' + (completed.stderr or '')
        if completed.returncode != 0:
            raise classify_failure(completed.returncode, output,
                                   self.bmc.address, self.bmc.username)
        return output

    def power_state(self):
        state = parse_power_status(self._run('status'))
        return state

    def power_off(self):
        self._run('off')

    def close(self):
        """ipmitool closes its session itself."""
