"""Options of nova_ha.fencing: the fence deadline and each host's BMC.

Per-host BMC settings live in dynamic sections named
``[fencing_host:<nova compute host name>]``, one per hypervisor, with the
options of ``HOST_OPTS``; ``[fencing_host_defaults]`` holds values shared by
every host (typically the driver and the fleet's BMC user).  A host with no
section and no default driver is refused: fencing is never skipped by
accident, and the no-op driver has to be named.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'fencing',
    title='nova-ha fencing',
    help='How the engine powers a failed hypervisor off through its BMC '
         'before evacuating its VMs. Each host\'s BMC is described in a '
         'section [fencing_host:HOST] (HOST is the compute service\'s host '
         'name in Nova) with the options of [fencing_host_defaults], which '
         'provides the values a host section leaves out.')

#: Prefix of the dynamic per-host sections.
HOST_SECTION_PREFIX = 'fencing_host:'

DEFAULTS_GROUP = cfg.OptGroup(
    'fencing_host_defaults',
    title='nova-ha fencing: BMC defaults',
    help='Defaults for every host\'s BMC. Write one section per '
         'hypervisor named [fencing_host:HOST] with any of these options; '
         'values missing there are taken from here. A host without its own '
         'section is fenced with these values only when "driver" is set '
         'here. Example:\n\n'
         '[fencing_host_defaults]\ndriver = ipmi\nusername = admin\n'
         'password = SECRET\naddress = {host}-bmc.example.net\n\n'
         '[fencing_host:compute-7]\ndriver = redfish\n'
         'address = https://10.0.0.7\nsystem_id = 1\n')

OPTS = [
    cfg.FloatOpt(
        'timeout',
        default=60.0,
        min=1.0,
        help='Seconds to wait for a host\'s BMC to confirm power off. When '
             'the deadline passes without confirmation the fence fails and '
             'the host\'s VMs are not evacuated. Each BMC call is also '
             'bounded by request_timeout, so a fence can overrun this by '
             'at most one call.'),
    cfg.FloatOpt(
        'poll_interval',
        default=0.5,
        min=0.05,
        help='Seconds between power-state reads while waiting for power '
             'off.'),
    cfg.FloatOpt(
        'retry_interval',
        default=15.0,
        min=1.0,
        help='Re-send the power-off request when the BMC still reports the '
             'host on this many seconds after the last request (a request '
             'may be lost, or ignored by a busy BMC).'),
    cfg.FloatOpt(
        'request_timeout',
        default=5.0,
        min=1.0,
        help='Seconds one BMC call (read or power off) may take, retries '
             'included, before the BMC counts as unreachable. A host '
             'section may override it.'),
]

HOST_OPTS = [
    cfg.StrOpt(
        'driver',
        help='Fence driver (entry point of namespace '
             'nova_ha.fencing.drivers): "ipmi" (IPMI 2.0 lanplus through '
             'pyghmi or ipmitool), "redfish" (Redfish ComputerSystem '
             'ForceOff through sushy) or "noop" (never fences: the host\'s '
             'VMs are evacuated without proof that it is off; only for labs '
             'or storage that fences by itself).'),
    cfg.StrOpt(
        'address',
        help='BMC address. ipmi: host name or IP. redfish: URL of the BMC '
             '(https://HOST[:PORT]; the scheme defaults to https), without '
             'credentials. "{host}" is replaced by the compute host name, '
             'so a default such as {host}-bmc.example.net serves a fleet.'),
    cfg.PortOpt(
        'port',
        help='BMC port (ipmi: UDP, default 623; redfish: TCP, overrides the '
             'URL\'s port).'),
    cfg.StrOpt(
        'username',
        help='BMC user; needs the privilege to change the power state.'),
    cfg.StrOpt(
        'password',
        secret=True,
        help='BMC password. Never logged, never shown in results or '
             'history; ipmitool receives it through its environment '
             '(IPMI_PASSWORD), never on its command line.'),
    cfg.StrOpt(
        'interface',
        choices=[('auto', 'pyghmi, then ipmitool for this BMC when pyghmi '
                          'cannot negotiate a session with it'),
                 ('pyghmi', 'only the pyghmi library'),
                 ('ipmitool', 'only the ipmitool command (lanplus)')],
        help='ipmi: which IPMI client to use (default auto). pyghmi offers '
             'cipher suite 17 and falls back to 3 only when the BMC refuses '
             '17; some BMCs accept 17 and then answer in suite 3, which '
             'pyghmi cannot parse: auto detects that and uses ipmitool for '
             'that BMC from then on.'),
    cfg.IntOpt(
        'cipher_suite',
        min=0,
        max=17,
        help='ipmi: RMCP+ cipher suite (ipmitool -C), for example 3 or 17. '
             'pyghmi cannot be told a suite, so setting this selects '
             'ipmitool unless interface is pyghmi. Unset, ipmitool uses '
             'suite 3 (HMAC-SHA1, AES-CBC-128), the suite IPMI 2.0 BMCs '
             'most widely support.'),
    cfg.StrOpt(
        'ipmitool_path',
        help='ipmi: path of the ipmitool executable (default: ipmitool on '
             'PATH).'),
    cfg.StrOpt(
        'system_id',
        help='redfish: the ComputerSystem to power off, as an id '
             '("1", "System.Embedded.1") or a path (/redfish/v1/Systems/1). '
             'Unset: the BMC\'s only system (an error when it has several).'),
    cfg.BoolOpt(
        'verify_tls',
        help='redfish: verify the BMC\'s TLS certificate (default true).'),
    cfg.StrOpt(
        'ca_file',
        help='redfish: CA bundle to verify the BMC\'s certificate with '
             '(implies verify_tls).'),
    cfg.FloatOpt(
        'request_timeout',
        min=1.0,
        help='Seconds one call to this BMC may take (default: '
             '[fencing] request_timeout).'),
]


def host_group_name(host):
    return HOST_SECTION_PREFIX + host


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    conf.register_group(DEFAULTS_GROUP)
    conf.register_opts(HOST_OPTS, group=DEFAULTS_GROUP)


def register_host_group(conf, host):
    """Register the dynamic section of ``host``; returns its group name."""
    name = host_group_name(host)
    conf.register_opts(HOST_OPTS, group=name)
    return name


def list_opts():
    return {GROUP: OPTS, DEFAULTS_GROUP: HOST_OPTS}
