"""From a host name to a ready fence driver, through configuration.

The BMC of each hypervisor is described in nova-ha.conf (see
:mod:`nova_ha.conf.fencing`); the driver class is found through stevedore
(namespace ``nova_ha.fencing.drivers``), so a deployment can ship its own
driver without touching nova-ha.
"""

from oslo_config import cfg
from oslo_log import log as logging
from stevedore import driver as stevedore_driver
from stevedore import exception as stevedore_exc

from nova_ha.conf import fencing as fencing_conf
from nova_ha.fencing import base

LOG = logging.getLogger(__name__)

NAMESPACE = 'nova_ha.fencing.drivers'

#: Host options that go to BMCConfig.options (driver extras).
EXTRA_OPTIONS = ('interface', 'cipher_suite', 'ipmitool_path', 'system_id',
                 'verify_tls', 'ca_file', 'request_timeout')


def _conf(conf):
    if conf is None:
        from nova_ha.conf import CONF
        return CONF
    return conf


def _sections(conf):
    try:
        return set(conf.list_all_sections())
    except (AttributeError, cfg.Error):
        # Not parsed yet (no config files): only registered groups exist.
        return set()


def _read(conf, group, option, section_label):
    try:
        return conf[group][option]
    except (cfg.Error, ValueError) as exc:
        # Never echo a password's value: only its option name.
        if option == 'password':
            raise base.FenceConfigError(
                '[%s] password could not be read' % section_label) from None
        raise base.FenceConfigError(
            '[%s] %s is invalid: %s' % (section_label, option, exc)) from None


def configured_hosts(conf=None):
    """Host names that have their own ``[fencing_host:HOST]`` section."""
    conf = _conf(conf)
    prefix = fencing_conf.HOST_SECTION_PREFIX
    return sorted(section[len(prefix):] for section in _sections(conf)
                  if section.startswith(prefix) and section[len(prefix):])


def load_bmc_config(host, conf=None):
    """Return the :class:`BMCConfig` of ``host``; raises FenceConfigError."""
    conf = _conf(conf)
    if not host:
        raise base.FenceConfigError('no host name given to fence')
    defaults = fencing_conf.DEFAULTS_GROUP.name
    section = fencing_conf.host_group_name(host)
    has_section = section in _sections(conf)
    if has_section:
        fencing_conf.register_host_group(conf, host)

    def value(option):
        if has_section:
            own = _read(conf, section, option, section)
            if own is not None:
                return own
        return _read(conf, defaults, option, defaults)

    driver = value('driver')
    if not driver:
        where = ('its section [%s] sets no driver' % section if has_section
                 else 'there is no [%s] section' % section)
        raise base.FenceConfigError(
            'host %s has no BMC configured: %s and [%s] sets no default '
            'driver. Describe its BMC there (driver = ipmi or redfish), or '
            'write driver = noop to run without fencing on purpose.'
            % (host, where, defaults))
    address = value('address')
    if address:
        address = address.replace('{host}', host)
    options = {}
    for option in EXTRA_OPTIONS:
        option_value = value(option)
        if option_value is not None:
            options[option] = option_value
    options.setdefault('request_timeout',
                       _read(conf, fencing_conf.GROUP.name, 'request_timeout',
                             fencing_conf.GROUP.name))
    return base.BMCConfig(driver=driver.strip(), address=address,
                          port=value('port'), username=value('username'),
                          password=value('password'), options=options)


def driver_class(name):
    """The driver class registered as ``name``; raises FenceConfigError."""
    def failed_to_load(manager, entrypoint, exc):
        raise base.FenceConfigError(
            'fence driver %s could not be loaded: %s: %s' % (
                entrypoint.name, type(exc).__name__, exc))

    try:
        manager = stevedore_driver.DriverManager(
            NAMESPACE, name, invoke_on_load=False,
            on_load_failure_callback=failed_to_load)
    except stevedore_exc.NoMatches:
        raise base.FenceConfigError(
            'unknown fence driver %r; installed drivers: %s' % (
                name, ', '.join(available_drivers()) or 'none')) from None
    return manager.driver


def available_drivers():
    from stevedore import extension
    manager = extension.ExtensionManager(NAMESPACE, invoke_on_load=False)
    return sorted(manager.names())


def fencer_for(host, conf=None):
    """Return the fence driver for ``host``, ready to :meth:`fence`.

    Raises FenceConfigError when the host has no usable BMC configuration.
    """
    bmc = load_bmc_config(host, conf)
    cls = driver_class(bmc.driver)
    return cls(host, bmc)


def check_configured_hosts(conf=None):
    """Load the fence driver of every ``[fencing_host:HOST]`` section.

    Returns ``(ready, broken)``: host -> driver name, and host -> why its
    configuration cannot fence it.  The engine calls this at start: a
    mistake shows in its log the moment it starts, not when the host has
    died, and the drivers' first load (entry points, imports; a quarter of
    a second) is not paid during the first recovery.
    """
    conf = _conf(conf)
    ready, broken = {}, {}
    for host in configured_hosts(conf):
        try:
            fencer = fencer_for(host, conf)
        except base.FenceError as exc:
            broken[host] = str(exc)
            continue
        ready[host] = fencer.name
        fencer.close()
    return ready, broken


def driver_name(host, conf=None):
    """The fence driver configured for ``host``, None if it has none."""
    try:
        return load_bmc_config(host, conf).driver
    except base.FenceConfigError:
        return None


def fence_timeouts(conf=None):
    """(timeout, poll_interval) of ``[fencing]``."""
    group = _conf(conf).fencing
    return group.timeout, group.poll_interval


def fence_host(host, conf=None):
    """Fence ``host`` with its configured driver and the ``[fencing]``
    deadline; never raises (a configuration error is a FAILED result)."""
    conf = _conf(conf)
    try:
        fencer = fencer_for(host, conf)
    except base.FenceError as exc:
        LOG.error('nova-ha: cannot fence host %s: %s', host, exc)
        return base.FenceResult(
            host=host, driver='none', outcome=base.FenceOutcome.FAILED,
            power_state=base.PowerState.UNKNOWN,
            detail='configuration error: %s' % exc, elapsed_s=0.0,
            attempts=0)
    timeout, poll_interval = fence_timeouts(conf)
    return fencer.fence(timeout, poll_interval=poll_interval,
                        retry_interval=conf.fencing.retry_interval)
