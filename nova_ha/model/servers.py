"""What a server's metadata says about its HA policy, as plain data.

``ha:enabled`` (and Masakari's ``HA_Enabled``, so that Masakari users can move
over without retagging) marks a VM for recovery; ``ha:priority`` orders the
recovery, higher first.
"""

import dataclasses

from nova_ha.model import aggregates

ENABLED_KEY = 'ha:enabled'
MASAKARI_ENABLED_KEY = 'HA_Enabled'
PRIORITY_KEY = 'ha:priority'


@dataclasses.dataclass(frozen=True)
class ServerHAPolicy:
    enabled: bool = False
    priority: int = 0
    problems: tuple = ()


def server_policy(metadata, evacuate_all=False):
    """The HA policy of a server from its metadata.

    ``evacuate_all`` is the segment's ``ha:evacuate_all``: every VM counts as
    HA unless it says ``ha:enabled=false`` itself.  A malformed value is a
    problem and counts as "HA": recovering a VM nobody asked for costs a
    rebuild, losing one the user asked for costs the SLA.
    """
    metadata = metadata or {}
    problems = []
    enabled = evacuate_all
    for key in (MASAKARI_ENABLED_KEY, ENABLED_KEY):
        if key in metadata:
            enabled = aggregates.parse_bool(metadata[key], key, True,
                                            problems)
    priority = 0
    if PRIORITY_KEY in metadata:
        try:
            priority = int(str(metadata[PRIORITY_KEY]).strip())
        except ValueError:
            problems.append('%s=%r is not an integer; treated as 0' % (
                PRIORITY_KEY, metadata[PRIORITY_KEY]))
    return ServerHAPolicy(enabled=enabled, priority=priority,
                          problems=tuple(problems))
