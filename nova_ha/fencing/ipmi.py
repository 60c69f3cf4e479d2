"""IPMI fence driver: chassis power off over IPMI 2.0 (RMCP+ / lanplus).

Two clients, chosen per host by the ``interface`` option:

* ``pyghmi`` (the library, no child process);
* ``ipmitool`` (the command, see :mod:`nova_ha.fencing.ipmitool`), which
  can be told a cipher suite;
* ``auto`` (default): pyghmi, unless ``cipher_suite`` is set; when pyghmi
  cannot even set up a session with a BMC (it offers cipher suite 17 first
  and some BMCs, pyghmi's own fakebmc among them, accept the offer and
  then answer in suite 3, which pyghmi fails to parse), the driver logs it,
  switches to ipmitool for that BMC and remembers the BMC for the life of
  the process.  Authentication and reachability errors never switch: they
  are answers, not incompatibilities.
"""

import threading

from oslo_log import log as logging
from pyghmi import exceptions as pyghmi_exc
from pyghmi.ipmi import command as pyghmi_command
from pyghmi.ipmi.private import session as pyghmi_session

from nova_ha.fencing import base
from nova_ha.fencing import ipmitool

LOG = logging.getLogger(__name__)

INTERFACES = ('auto', 'pyghmi', 'ipmitool')

# (address, port) of BMCs pyghmi could not negotiate with, per process.
_NEEDS_IPMITOOL = set()
_NEEDS_IPMITOOL_LOCK = threading.Lock()

_AUTH_MARKERS = ('incorrect password', 'unauthorized name',
                 'unauthorized role', 'invalid role', 'privilege',
                 'wrong kg')
_UNREACHABLE_MARKERS = ('timeout', 'no longer connected', 'timed out')


class _Incompatible(Exception):
    """pyghmi could not speak to this BMC at all (protocol mismatch)."""


def classify_pyghmi_error(exc, address, username):
    """The contract's exception for a pyghmi IpmiException."""
    text = str(exc) if exc.args and exc.args[0] else ''
    lowered = text.lower()
    if any(marker in lowered for marker in _AUTH_MARKERS):
        return base.BMCAuthError('IPMI BMC %s refused user %s: %s' % (
            address, username, text))
    if not text or any(marker in lowered for marker in _UNREACHABLE_MARKERS):
        return base.BMCUnreachable('IPMI BMC %s did not answer%s' % (
            address, ' (%s)' % text if text else ''))
    return base.FenceError('IPMI BMC %s: %s' % (address, text))


class PyghmiClient:
    """pyghmi's Command for one BMC, logged in on first use."""

    def __init__(self, bmc):
        self.bmc = bmc
        self._command = None

    def _call(self, func):
        try:
            if self._command is None:
                self._command = pyghmi_command.Command(
                    bmc=self.bmc.address, userid=self.bmc.username or '',
                    password=self.bmc.password or '',
                    port=self.bmc.port or ipmitool.DEFAULT_PORT,
                    keepalive=False)
            return func(self._command)
        except pyghmi_exc.IpmiException as exc:
            self._forget()
            raise classify_pyghmi_error(exc, self.bmc.address,
                                        self.bmc.username) from None
        except (OSError, pyghmi_exc.PyghmiException) as exc:
            self._forget()
            raise base.BMCUnreachable('IPMI BMC %s: %s' % (
                self.bmc.address, type(exc).__name__)) from None
        except Exception as exc:
            # struct.error and friends: a packet pyghmi could not parse.
            self._forget()
            raise _Incompatible('%s: %s' % (type(exc).__name__, exc)) \
                from None

    def _forget(self):
        """Drop our command and every broken session pyghmi keeps for
        this BMC.  pyghmi caches sessions in class attributes and hands a
        broken one that was still logging in back to every new Command
        ("Session no longer connected" at once): a BMC met while it was
        down would never be read again by this process."""
        self._command = None
        sessions = pyghmi_session.Session
        for key, session in list(sessions.initting_sessions.items()):
            if key[0] == self.bmc.address and getattr(session, 'broken',
                                                      True):
                sessions.initting_sessions.pop(key, None)
        for handlers in list(sessions.bmc_handlers.values()):
            for port, session in list(handlers.items()):
                if getattr(session, 'bmc', None) == self.bmc.address and \
                        getattr(session, 'broken', True):
                    handlers.pop(port, None)

    def power_state(self):
        answer = self._call(lambda command: command.get_power())
        value = (answer or {}).get('powerstate')
        try:
            return base.PowerState(value)
        except ValueError:
            return base.PowerState.UNKNOWN

    def power_off(self):
        self._call(lambda command: command.set_power('off', wait=False))

    def close(self):
        command, self._command = self._command, None
        if command is not None:
            try:
                command.ipmi_session.logout()
            except Exception as exc:
                LOG.debug('nova-ha: IPMI logout from %s failed: %s',
                          self.bmc.address, type(exc).__name__)


class IPMIFenceDriver(base.FenceDriver):

    name = 'ipmi'

    def __init__(self, host, bmc):
        super().__init__(host, bmc)
        if not bmc.address:
            raise base.FenceConfigError(
                'ipmi: host %s has no BMC address' % host)
        if not bmc.username:
            raise base.FenceConfigError(
                'ipmi: host %s has no BMC username' % host)
        self.interface = bmc.options.get('interface') or 'auto'
        if self.interface not in INTERFACES:
            raise base.FenceConfigError(
                'ipmi: interface must be one of %s, not %r' % (
                    ', '.join(INTERFACES), self.interface))
        self.endpoint = (bmc.address, bmc.port or ipmitool.DEFAULT_PORT)
        self.client = self._initial_client()

    def _initial_client(self):
        if self.interface == 'ipmitool':
            return ipmitool.IpmitoolClient(self.bmc)
        if self.interface == 'pyghmi':
            return PyghmiClient(self.bmc)
        with _NEEDS_IPMITOOL_LOCK:
            known_incompatible = self.endpoint in _NEEDS_IPMITOOL
        if (self.bmc.options.get('cipher_suite') is not None
                or known_incompatible):
            return ipmitool.IpmitoolClient(self.bmc)
        return PyghmiClient(self.bmc)

    @property
    def client_name(self):
        return ('pyghmi' if isinstance(self.client, PyghmiClient)
                else 'ipmitool')

    def _call(self, method):
        try:
            return method(self.client)
        except _Incompatible as exc:
            if self.interface == 'pyghmi':
                raise base.FenceError(
                    'IPMI BMC %s: pyghmi cannot set up a session (%s); set '
                    'interface = ipmitool (or auto) and cipher_suite for '
                    'this host' % (self.bmc.address, exc)) from None
            LOG.warning('nova-ha: pyghmi cannot set up a session with the '
                        'IPMI BMC of host %s at %s (%s); using ipmitool '
                        'with cipher suite %s for it from now on',
                        self.host, self.bmc.address, exc,
                        self.bmc.options.get('cipher_suite') or
                        ipmitool.DEFAULT_CIPHER_SUITE)
            with _NEEDS_IPMITOOL_LOCK:
                _NEEDS_IPMITOOL.add(self.endpoint)
            self.client = ipmitool.IpmitoolClient(self.bmc)
            return method(self.client)

    def get_power_state(self):
        return self._call(lambda client: client.power_state())

    def request_power_off(self):
        self._call(lambda client: client.power_off())

    def close(self):
        self.client.close()
