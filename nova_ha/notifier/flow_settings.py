"""The settings of the VM-failure and process-failure flows.

Host failures are recovered by nova_ha.engine, which has its own
(nova_ha.engine.core.Settings).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class FlowSettings:
    # How long a restarted VM may take to be ACTIVE again (vm_flow).
    evacuation_timeout: float = 600.0
    # Seconds between two reads of Nova while a flow waits for it.
    poll_interval: float = 0.5
    # How long a flow waits for its tooz lock (one per VM, one per host's
    # processes) while another engine holds it.
    lock_timeout: float = 30.0
