"""Fast host liveness for Nova.

- ``driver.HAServiceGroupDriver``: Nova's servicegroup driver on tooz group
  membership (``servicegroup_driver = nova_ha``), enabled inside unmodified
  Nova by the ``nova_ha_loader`` notify driver (``loader``).
- ``HostLivenessWatcher``: host up/down events for the engine.
- ``confirm_host_down``: second-channel confirmation before fencing.

Nothing here imports Nova at package import time; ``driver`` does.
"""

from nova_ha.servicegroup.backend import configured_url  # noqa: F401
from nova_ha.servicegroup.backend import group_for_topic  # noqa: F401
from nova_ha.servicegroup.confirm import ConfirmThresholds  # noqa: F401
from nova_ha.servicegroup.confirm import confirm_host_down  # noqa: F401
from nova_ha.servicegroup.confirm import Decision  # noqa: F401
from nova_ha.servicegroup.membership import HostLivenessEvent  # noqa: F401
from nova_ha.servicegroup.watcher import HostLivenessWatcher  # noqa: F401
