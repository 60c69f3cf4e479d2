"""oslo.config options of nova-ha, one module per component.

``CONF`` is oslo.config's global object, the same one Nova uses, so the
plugins that run inside Nova services read their options from nova.conf.
"""

from oslo_config import cfg

from nova_ha.conf import engine
from nova_ha.conf import fencing
from nova_ha.conf import history
from nova_ha.conf import libvirt_monitor
from nova_ha.conf import monitor
from nova_ha.conf import operator
from nova_ha.conf import scheduler
from nova_ha.conf import self_fence
from nova_ha.conf import servicegroup
from nova_ha.conf import signing

CONF = cfg.CONF

_MODULES = (scheduler, servicegroup, engine, fencing, history, monitor,
            libvirt_monitor, operator, signing, self_fence)

for _module in _MODULES:
    _module.register_opts(CONF)
