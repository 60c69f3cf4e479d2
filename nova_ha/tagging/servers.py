"""Tagging a VM as HA and removing the tag, as metadata changes (pure).

The keys and their reading are nova_ha.model.servers'; this module only
decides what to write so that the VM ends up as the operator asked, given
what its metadata and its segment already say.
"""

import dataclasses

from nova_ha.model import servers as ha_servers

HA_KEYS = (ha_servers.ENABLED_KEY, ha_servers.MASAKARI_ENABLED_KEY,
           ha_servers.PRIORITY_KEY)


@dataclasses.dataclass(frozen=True)
class MetadataChange:
    set: dict
    delete: tuple
    note: str = ''


def tag(priority=None):
    """Mark a VM HA, optionally with its recovery priority."""
    values = {ha_servers.ENABLED_KEY: 'true'}
    if priority is not None:
        values[ha_servers.PRIORITY_KEY] = str(int(priority))
    return MetadataChange(set=values, delete=())


def untag(metadata, evacuate_all=False, segment=None):
    """Make a VM not HA.

    The tag is removed: ours and Masakari's ``HA_Enabled`` (either would
    keep the VM HA) and its priority.  In a segment with
    ``ha:evacuate_all=true`` every untagged VM is HA, so there the VM opts
    out explicitly with ``ha:enabled=false``.
    """
    present = tuple(k for k in HA_KEYS if k in (metadata or {}))
    if evacuate_all:
        return MetadataChange(
            set={ha_servers.ENABLED_KEY: 'false'},
            delete=tuple(k for k in present
                         if k != ha_servers.ENABLED_KEY),
            note='segment %s has ha:evacuate_all=true: the VM opts out '
                 'with ha:enabled=false' % segment)
    return MetadataChange(set={}, delete=present)


def ha_metadata(metadata):
    """The HA keys of a VM's metadata, for display."""
    return {k: v for k, v in sorted((metadata or {}).items())
            if k in HA_KEYS}
