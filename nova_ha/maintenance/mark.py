"""The per-host maintenance mark, kept in Nova (no database of our own).

A host is in maintenance when it is in the maintenance aggregate (option
``[operator] maintenance_aggregate``, default ``ha-maintenance``, created
on demand with ``ha:maintenance=true``).  That one key is what the
scheduler filters (never reserved capacity) and the engine (no recovery, no
VM restart) read, through nova_ha.model.aggregates.host_view.  ``enter``
also disables the host's compute service with a reason starting
``nova-ha:maintenance``, so nothing new is scheduled there (the engine
reads that reason as maintenance too); ``exit`` enables it again only if
that reason is still ours, so a host someone else disabled stays disabled.

Mutual exclusion with recoveries: ``enter`` refuses while the history has
an open incident of the host, and nova-ha-engine reads the mark afresh
before it fences, so a recovery that starts afterwards stands down.
``enter`` also holds the host's lock (tooz, ``host-<host>``) while it
checks and marks, so two maintenance commands for one host do not
interleave.
"""

import dataclasses

from oslo_log import log as logging

from nova_ha.model import aggregates as ha_aggregates

LOG = logging.getLogger(__name__)

REASON_PREFIX = ha_aggregates.MAINTENANCE_REASON_PREFIX
# Nova keeps at most 255 characters of a disabled reason.
MAX_REASON = 255
HOST_LOCK = 'host-%s'


class MaintenanceRefused(Exception):
    """The host cannot change maintenance state now; the message says why
    and what to do."""


def service_reason(note=None):
    reason = REASON_PREFIX if not note else '%s: %s' % (REASON_PREFIX, note)
    return reason[:MAX_REASON]


disabled_by_maintenance = ha_aggregates.service_in_maintenance


def refusal(host, open_incidents):
    """Why ``host`` may not enter maintenance now (None: it may).

    Pure; ``open_incidents``: the history's open incidents of the host.
    """
    if not open_incidents:
        return None
    listed = '; '.join('%s (%s, state %s)' % (i.key, i.kind, i.state)
                       for i in open_incidents)
    return ('%s has open incidents in the history: %s. A recovery of the '
            'host is under way or waits for the host to come back (a '
            'process_failure closes when its monitor reports nova-compute '
            'up again); see "nova-ha history incidents --open --host %s" '
            'and try again when they are closed' % (host, listed, host))


@dataclasses.dataclass(frozen=True)
class MarkReport:
    """What ``enter`` or ``exit`` found and did."""

    host: str
    maintenance: bool
    changes: tuple        # what this call changed, in order
    service_status: str
    service_reason: str
    notes: tuple = ()


class MaintenanceMark:
    """Sets and clears the mark through Nova's API (a MaintenanceNova)."""

    def __init__(self, nova, aggregate_name):
        self.nova = nova
        self.aggregate_name = aggregate_name

    def _service(self, host):
        service = self.nova.service(host)
        if service is None:
            raise MaintenanceRefused('no nova-compute service is registered '
                                     'for host %r' % host)
        return service

    def enter(self, host, locks, open_incidents, note=None):
        """Mark ``host``; ``open_incidents(host)`` reads the history."""
        service = self._service(host)
        lock = locks.try_lock(HOST_LOCK % host)
        if lock is None:
            raise MaintenanceRefused(
                'another command holds the host lock of %s (a maintenance '
                'enter or a drain of it is running); try again when it is '
                'over' % host)
        try:
            reason = refusal(host, open_incidents(host))
            if reason:
                raise MaintenanceRefused(reason)
            return self._set(host, service, note)
        finally:
            lock.release()

    def _set(self, host, service, note):
        changes, notes = [], []
        aggregate = self.nova.maintenance_aggregate(self.aggregate_name,
                                                    create=True)
        if host not in aggregate.hosts:
            self.nova.add_host_to_aggregate(aggregate.id, host)
            changes.append('added to aggregate %s' % aggregate.name)
        if service['status'] != 'disabled':
            reason = service_reason(note)
            self.nova.disable(host, reason)
            changes.append('compute service disabled')
            service = dict(service, status='disabled',
                           disabled_reason=reason)
        elif not disabled_by_maintenance(service):
            notes.append('the compute service was already disabled (%s): '
                         'left as it is, and "maintenance exit" will not '
                         'enable it' % service['disabled_reason'])
        return MarkReport(host, True, tuple(changes), service['status'],
                          service['disabled_reason'] or '', tuple(notes))

    def exit(self, host):
        service = self._service(host)
        changes, notes = [], []
        remaining = []
        for aggregate in self.nova.aggregates():
            if host not in aggregate.hosts:
                continue
            if aggregate.name == self.aggregate_name:
                self.nova.remove_host_from_aggregate(aggregate.id, host)
                changes.append('removed from aggregate %s'
                               % aggregate.name)
            else:
                remaining.append(aggregate)
        still = ha_aggregates.host_view_of(remaining, host)
        if still.maintenance:
            notes.append('still in maintenance: another aggregate of the '
                         'host sets %s=true for all its hosts; remove the '
                         'host or the key there'
                         % ha_aggregates.MAINTENANCE_KEY)
        if disabled_by_maintenance(service):
            self.nova.enable(host)
            changes.append('compute service enabled')
            service = dict(service, status='enabled', disabled_reason='')
        elif service['status'] == 'disabled':
            notes.append('the compute service stays disabled (%s): not '
                         'disabled by maintenance' % (
                             service['disabled_reason'] or 'no reason'))
        if service['state'] == 'down' or service['forced_down']:
            notes.append('nova-compute on %s is down: HA covers the host '
                         'again, and nova-ha-engine recovers it at its next '
                         'look if its heartbeat is lost too (within '
                         '[engine] reconcile_interval)' % host)
        notes.append('VMs moved off %s are not moved back' % host)
        return MarkReport(host, still.maintenance, tuple(changes),
                          service['status'],
                          service['disabled_reason'] or '', tuple(notes))


def in_maintenance(aggregates, host, service):
    """Is ``host`` in maintenance, by either mark the engine honours?"""
    view = ha_aggregates.host_view_of(aggregates, host)
    return view.maintenance or disabled_by_maintenance(service)
