"""Make ``servicegroup_driver = nova_ha`` valid inside unmodified Nova 34.

Nova 34 hard-codes its servicegroup drivers: ``nova.servicegroup.api``
maps the option's value through ``_driver_name_class_mapping`` ({db, mc})
and the ``[DEFAULT] servicegroup_driver`` option only accepts those choices.
Nothing in Nova loads plugins before ``servicegroup.API()`` is built, except
oslo.messaging: ``nova.config.parse_args`` calls ``nova.rpc.init``, which
builds the Notifiers, which load every driver named in
``[oslo_messaging_notifications] driver`` through the
``oslo.messaging.notify.drivers`` entry points.  That happens in every Nova
service (nova-api under WSGI, conductor, scheduler, compute) after the
configuration is parsed and before any service object exists.

``NotifyLoader`` is such a notify driver.  Loading it registers ``nova_ha``
as one more choice and one more mapping entry; it never sends anything.
Option values are validated when read, not when parsed, so the configured
``nova_ha`` is accepted from then on.  Without the loader line, a service
configured with ``nova_ha`` refuses to start with oslo.config's error
(value not among the choices): it fails closed, never silently on another
driver.
"""

from oslo_log import log as logging
from oslo_messaging.notify import notifier

LOG = logging.getLogger(__name__)

DRIVER_NAME = 'nova_ha'
DRIVER_CLASS = 'nova_ha.servicegroup.driver.HAServiceGroupDriver'


def install(conf=None):
    """Register the driver with Nova's servicegroup API; idempotent.

    Returns False (and logs why) when Nova's internals are not where Nova
    34 keeps them, so an incompatible Nova is reported, not patched blindly.
    """
    try:
        from nova.servicegroup import api as sg_api
        import nova.conf
    except ImportError:
        LOG.debug('nova-ha loader: not inside Nova, nothing to install')
        return False
    conf = conf if conf is not None else nova.conf.CONF
    # Our own options live in nova.conf: register them on Nova's CONF.
    import nova_ha.conf  # noqa: F401
    mapping = getattr(sg_api, '_driver_name_class_mapping', None)
    try:
        opt = conf._get_opt_info('servicegroup_driver')['opt']
        choices = opt.type.choices
    except Exception:  # an oslo.config or Nova that differs from 34
        choices = None
    if not isinstance(mapping, dict) or choices is None:
        LOG.error('nova-ha: this Nova does not keep its servicegroup '
                  'drivers where Nova 34 does; servicegroup_driver = %s '
                  'cannot be enabled', DRIVER_NAME)
        return False
    mapping.setdefault(DRIVER_NAME, DRIVER_CLASS)
    if DRIVER_NAME not in choices:
        choices[DRIVER_NAME] = ('nova-ha: liveness from tooz group '
                                'membership (fast host-down detection)')
    return True


class NotifyLoader(notifier.Driver):
    """oslo.messaging notify driver that only installs the servicegroup
    driver when Nova loads it; every notification is ignored."""

    def __init__(self, conf, topics, transport):
        super().__init__(conf, topics, transport)
        install(conf)

    def notify(self, ctxt, message, priority, retry):
        return None
