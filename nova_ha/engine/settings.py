"""The engine's settings from option values, by their names in nova-ha.conf.

One place turns options into ``core.Settings``: nova-ha-engine reads them
from its configuration (``from_conf``), the simulator's scenario folders
from cloud.yaml's ``settings`` (``from_options``), with the same names:
[engine] options as they are, [ha_servicegroup]'s ``confirm_*`` as they
are, [watchdog_rung]'s with a ``watchdog_`` prefix.  A name that is no
option but a field of the settings (``power_read_interval``, ``fencing``
for the ladder of hosts in no segment) is taken as it is.
"""

import dataclasses

from nova_ha.engine import core
from nova_ha.engine import guards
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.servicegroup import channels
from nova_ha.servicegroup import confirm
from nova_ha.servicegroup import self_fence

# [engine] options that are settings of the same name.
ENGINE = (
    'reconcile_interval', 'fence_attempts', 'fence_retry_delay',
    'evacuate_attempts', 'evacuation_timeout', 'max_concurrent_evacuations',
    'quarantine_failures', 'quarantine_window', 'compute_dead_fence_after',
    'vm_restart_max_attempts', 'vm_restart_window',
    'vm_migrate_when_restarts_fail', 'vm_restart_timeout', 'nova_down_wait')
# [engine] options of the storm guard.
STORM = {'storm_max_share': 'max_share', 'storm_settle_time': 'settle_time',
         'storm_burst_hosts': 'burst'}
# [ha_servicegroup] options of the confirmation table.
CONFIRM = {'confirm_nova_heartbeat_stale': 'nova_heartbeat_stale_s',
           'confirm_max_wait': 'max_wait_s'}
# [watchdog_rung] options, with their prefix here.
RUNG = {'watchdog_kinds': 'kinds', 'watchdog_margin': 'margin',
        'watchdog_evidence_window': 'evidence_window'}
PEERS = {'watchdog_peer_silent_after': 'silent_after',
         'watchdog_peer_view_max_age': 'view_max_age'}
_FIELDS = {f.name for f in dataclasses.fields(core.Settings)}


class UnknownOption(ValueError):
    pass


def from_options(values, **fields):
    """``core.Settings`` from ``values`` (option name -> value; a missing
    one keeps its default) and ``fields`` (settings given as they are: the
    fence drivers)."""
    values = dict(values)
    picked = {}

    def take(names):
        return {field: values.pop(name) for name, field in names.items()
                if name in values}
    storm, confirm_values, rung, peers = (take(STORM), take(CONFIRM),
                                          take(RUNG), take(PEERS))
    if 'kinds' in rung:
        rung['kinds'] = tuple(rung['kinds'])
    backoff = values.pop('vm_restart_backoff', None)
    longest = values.pop('vm_restart_backoff_max', None)
    if backoff is not None or longest is not None:
        default = core.Settings().vm_restart_backoff
        if isinstance(backoff, (list, tuple)):
            backoff, longest = backoff
        picked['vm_restart_backoff'] = (
            default[0] if backoff is None else float(backoff),
            default[1] if longest is None else float(longest))
    ladder = values.pop('unsegmented_fencing', values.pop('fencing', None))
    if ladder is not None:
        problems = []
        picked['fencing'] = ha_aggregates.parse_fencing(
            ladder if isinstance(ladder, str) else ','.join(ladder),
            problems)
        if problems:
            raise UnknownOption('; '.join(problems))
    unknown = set(values) - _FIELDS
    if unknown:
        raise UnknownOption('unknown settings: %s' % ', '.join(
            sorted(unknown)))
    picked.update(values)
    picked.update(fields)
    return core.Settings(
        storm=guards.StormSettings(**storm),
        confirm=confirm.ConfirmThresholds(**confirm_values),
        # Refuses timings that would make the rung unsafe (UnsafeTimings).
        watchdog=self_fence.RungSettings(**rung),
        peers=channels.PeerThresholds(**peers), **picked)


def from_conf(conf, **fields):
    """``core.Settings`` from nova-ha-engine's configuration."""
    values = {name: conf.engine[name]
              for name in ENGINE + tuple(STORM) + (
                  'vm_restart_backoff', 'vm_restart_backoff_max',
                  'unsegmented_fencing')}
    values.update({name: conf.ha_servicegroup[name] for name in CONFIRM})
    values.update({name: conf.watchdog_rung[name[len('watchdog_'):]]
                   for name in tuple(RUNG) + tuple(PEERS)})
    return from_options(values, **fields)
