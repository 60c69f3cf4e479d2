"""Redfish fence driver: ComputerSystem.Reset ForceOff through sushy.

The BMC is reached with HTTP basic authentication (every Redfish BMC
accepts it; no session is left behind on the BMC when the engine dies).
Sushy's own retries are reduced to a single attempt per call: the fence
procedure owns the deadline and polls again itself.
"""

import urllib.parse

import sushy
from sushy import auth as sushy_auth
from sushy import exceptions as sushy_exc

from nova_ha.fencing import base

SYSTEMS_PATH = '/redfish/v1/Systems/'

_POWER_STATES = {
    sushy.PowerState.ON: base.PowerState.ON,
    sushy.PowerState.POWERING_ON: base.PowerState.ON,
    sushy.PowerState.PAUSED: base.PowerState.ON,
    sushy.PowerState.OFF: base.PowerState.OFF,
    # Still powered, but already going off: not worth a second request.
    sushy.PowerState.POWERING_OFF: base.PowerState.UNKNOWN,
}


def base_url(address, port=None):
    """``scheme://host[:port]`` from an operator's address; raises
    FenceConfigError for credentials in the URL or an unusable address."""
    if not address:
        raise base.FenceConfigError('redfish: no BMC address configured')
    if '://' not in address:
        address = 'https://' + address
    parsed = urllib.parse.urlsplit(address)
    if parsed.username or parsed.password:
        raise base.FenceConfigError(
            'redfish: the BMC address must not carry credentials; use the '
            'username and password options')
    if parsed.scheme not in ('http', 'https') or not parsed.hostname:
        raise base.FenceConfigError(
            'redfish: BMC address %s is not an http(s) URL' % (
                parsed.scheme + '://' + (parsed.hostname or '')))
    try:
        url_port = parsed.port
    except ValueError:
        raise base.FenceConfigError(
            'redfish: BMC address has an invalid port') from None
    host = parsed.hostname
    if ':' in host:
        host = '[%s]' % host
    port = port or url_port
    return '%s://%s%s' % (parsed.scheme, host, ':%d' % port if port else '')


def system_path(system_id):
    if system_id.startswith('/'):
        return system_id
    return SYSTEMS_PATH + urllib.parse.quote(system_id, safe='')


class RedfishFenceDriver(base.FenceDriver):

    name = 'redfish'

    def __init__(self, host, bmc):
        super().__init__(host, bmc)
        self.url = base_url(bmc.address, bmc.port)
        options = bmc.options
        ca_file = options.get('ca_file')
        verify = options.get('verify_tls')
        self.verify = ca_file or (True if verify is None else bool(verify))
        self.request_timeout = float(options.get('request_timeout') or 5.0)
        self.system_id = options.get('system_id')
        self._root = None
        self._system = None

    def _call(self, what, func):
        """Run one BMC call, mapping sushy's errors to the contract's."""
        try:
            return func()
        except sushy_exc.AccessError as exc:
            raise base.BMCAuthError(
                'redfish BMC %s refused the credentials of user %s while '
                '%s (HTTP %s)' % (self.url, self.bmc.username, what,
                                  getattr(exc, 'status_code', '?'))) from None
        except sushy_exc.ConnectionError:
            raise base.BMCUnreachable(
                'redfish BMC %s did not answer while %s' % (
                    self.url, what)) from None
        except sushy_exc.ResourceNotFoundError:
            raise base.FenceError(
                'redfish BMC %s has no %s (while %s): check system_id' % (
                    self.url, self._path_hint(), what)) from None
        except sushy_exc.SushyError as exc:
            raise base.FenceError('redfish BMC %s failed while %s: %s' % (
                self.url, what, exc)) from None

    def _path_hint(self):
        return system_path(self.system_id) if self.system_id else 'system'

    def _connect(self):
        if self._root is None:
            self._root = sushy.Sushy(
                self.url,
                auth=sushy_auth.BasicAuth(self.bmc.username or '',
                                          self.bmc.password or ''),
                verify=self.verify,
                server_side_retries=1,
                server_side_retries_delay=0.1,
                read_timeout=self.request_timeout,
                connect_timeout=self.request_timeout)
        return self._root

    def _find_system(self):
        root = self._connect()
        if self.system_id:
            return root.get_system(system_path(self.system_id))
        members = root.get_system_collection().members_identities
        if len(members) != 1:
            raise base.FenceConfigError(
                'redfish BMC %s manages %d systems (%s): set system_id' % (
                    self.url, len(members), ', '.join(sorted(members))))
        return root.get_system(members[0])

    def _get_system(self, what):
        if self._system is None:
            self._system = self._call(what, self._find_system)
        else:
            self._call(what, lambda: self._system.refresh(force=True))
        return self._system

    def get_power_state(self):
        system = self._get_system('reading the power state')
        return _POWER_STATES.get(system.power_state, base.PowerState.UNKNOWN)

    def request_power_off(self):
        system = self._get_system('requesting power off')
        self._call('requesting power off',
                   lambda: system.reset_system(sushy.ResetType.FORCE_OFF))

    def close(self):
        self._system = None
        self._root = None
