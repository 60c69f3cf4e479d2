"""oslo.config options of nova-ha, one module per component.

``CONF`` is oslo.config's global object, the same one Nova uses, so the
plugins that run inside Nova services read their options from nova.conf.
"""

from oslo_config import cfg

from nova_ha.conf import scheduler

CONF = cfg.CONF

_MODULES = (scheduler,)

for _module in _MODULES:
    _module.register_opts(CONF)
