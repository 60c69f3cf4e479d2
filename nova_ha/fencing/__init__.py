"""Fencing: power a failed hypervisor off through its BMC and prove it.

The engine calls :func:`fencer_for` (or :func:`fence_host`) and trusts only
:attr:`FenceResult.confirmed_off`.  Drivers: ``ipmi`` (pyghmi, ipmitool),
``redfish`` (sushy) and ``noop`` (explicitly no fencing).
"""

from nova_ha.fencing.base import BMCAuthError
from nova_ha.fencing.base import BMCConfig
from nova_ha.fencing.base import BMCUnreachable
from nova_ha.fencing.base import FenceConfigError
from nova_ha.fencing.base import FenceDriver
from nova_ha.fencing.base import FenceError
from nova_ha.fencing.base import FenceOutcome
from nova_ha.fencing.base import FenceResult
from nova_ha.fencing.base import PowerState
from nova_ha.fencing.registry import check_configured_hosts
from nova_ha.fencing.registry import driver_name
from nova_ha.fencing.registry import fence_host
from nova_ha.fencing.registry import fence_timeouts
from nova_ha.fencing.registry import fencer_for
from nova_ha.fencing.registry import load_bmc_config

__all__ = [
    'BMCAuthError', 'BMCConfig', 'BMCUnreachable', 'FenceConfigError',
    'FenceDriver', 'FenceError', 'FenceOutcome', 'FenceResult', 'PowerState',
    'check_configured_hosts', 'driver_name', 'fence_host', 'fence_timeouts',
    'fencer_for', 'load_bmc_config',
]
