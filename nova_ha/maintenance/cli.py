"""``maintenance enter|exit|list``: the operator's side of maintenance mode.

``enter HOST`` marks the host (see nova_ha.maintenance.mark), then drains
it: its VMs, HA first, are live-migrated (stopped ones cold-migrated) to
hosts the scheduler picks; HASegmentFilter keeps them inside the host's
segment while ``[ha_scheduler] confine_all_moves`` is true (the default).
Progress goes to stderr, the per-VM results to stdout in the chosen format.
Exit status: 0 when the host was emptied, 1 when VMs stay on it or a
refusal, 130 when interrupted (run ``enter`` again to resume).
"""

import argparse
import uuid

from cliff import lister
from cliff import show
from oslo_log import log as logging

from nova_ha.cmd import cli
from nova_ha.history import scrub
from nova_ha.history import store as history_store
from nova_ha.maintenance import drain
from nova_ha.maintenance import mark
from nova_ha.maintenance import nova as maintenance_nova
from nova_ha.maintenance import plan
from nova_ha.maintenance import progress
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.maintenance import locks as ha_locks

LOG = logging.getLogger(__name__)

RESULT_COLUMNS = ('ID', 'Name', 'HA', 'Priority', 'Action', 'Result',
                  'Target', 'Detail', 'Seconds')
EXIT_FIELDS = ('Host', 'Maintenance', 'Changes', 'Service',
               'Disabled reason', 'VMs on host', 'Notes')
LIST_COLUMNS = ('Host', 'Segment', 'Marked by', 'Service',
                'Disabled reason', 'VMs')

EXIT_INTERRUPTED = 130


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise argparse.ArgumentTypeError('%r is not a positive number of '
                                         'seconds' % text)
    return value


def open_incidents(store, host):
    """Open incidents of ``host`` in the history.  A database without the
    history schema has none (no engine has written to it yet)."""
    try:
        return store.list_incidents(open_only=True, host=host)
    except history_store.HistoryUnavailable as e:
        try:
            if store.schema_revision() is None:
                return []
        except history_store.HistoryUnavailable:
            pass
        raise mark.MaintenanceRefused(
            'cannot check the history for recoveries of %s: %s (check '
            '[history] connection: it must be the engine\'s database)'
            % (host, e)) from None


def record(store, kind, message, **fields):
    """Best effort: the mark and the moves live in Nova either way."""
    try:
        store.record(kind, message, **fields)
    except history_store.HistoryUnavailable as e:
        LOG.warning('not recorded in the history (%s): %s', e, message)


class _MaintenanceCommand:
    """Shared wiring: options, Nova, the history."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', metavar='HOST',
                            help='compute host (as Nova names it)')
        return parser

    def _wire(self):
        self.conf = cli.config_of(self.app)
        self.nova = maintenance_nova.MaintenanceNova(
            cli.sdk_connection(self.app))
        self.mark = mark.MaintenanceMark(
            self.nova, self.conf.operator.maintenance_aggregate)
        self.history = history_store.HistoryStore(
            self.conf.history.connection)

    def _say(self, text):
        self.app.stderr.write(text + '\n')
        self.app.stderr.flush()


class EnterMaintenance(_MaintenanceCommand, lister.Lister):
    """Put a host in maintenance and move its VMs off, HA VMs first.

    The host is marked first (HA silenced for it, nothing new scheduled
    there), so it is safe however the drain ends. Refused while nova-ha
    recovers the host. Run again to resume an interrupted drain.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--reason', metavar='TEXT',
                            help='why (kept in the compute service\'s '
                                 'disabled reason and the history)')
        parser.add_argument('--no-drain', action='store_true',
                            help='only mark the host; leave its VMs')
        parser.add_argument('--max-concurrent', type=cli.positive_int,
                            metavar='N',
                            help='VMs moved at once (default: [operator] '
                                 'drain_max_concurrent)')
        parser.add_argument('--timeout', type=_positive_float,
                            metavar='SECONDS',
                            help='deadline per VM (default: [operator] '
                                 'drain_migration_timeout)')
        return parser

    def run(self, parsed_args):
        self.exit_code = 0
        return super().run(parsed_args) or self.exit_code

    def take_action(self, parsed_args):
        self._wire()
        host = parsed_args.host
        locks = None
        try:
            locks = self._locks()
            report = self.mark.enter(
                host, locks, lambda h: open_incidents(self.history, h),
                note=parsed_args.reason)
            self._announce(report, parsed_args.reason)
            results = [] if parsed_args.no_drain else \
                self._drain(host, locks, parsed_args)
        finally:
            if locks is not None:
                locks.stop()
            self.history.close()
        return RESULT_COLUMNS, [_result_row(r) for r in results]

    def _locks(self):
        """The engine's lock service; refusing (the mark must be set
        under the host lock) when it cannot be reached."""
        try:
            return ha_locks.ToozLocks(
                self.conf.engine.coordination_url,
                member_id='nova-ha-cli-%s' % uuid.uuid4())
        except Exception as e:
            # tooz errors may quote the URL, password included.
            raise mark.MaintenanceRefused(
                'cannot reach the lock service of nova-ha-engine ([engine] '
                'coordination_url): %s' % scrub.scrub_text(str(e))) from None

    def _announce(self, report, reason):
        done = ', '.join(report.changes) or 'already marked'
        self._say('%s is in maintenance (%s)' % (report.host, done))
        for note in report.notes:
            self._say('note: %s' % note)
        if report.changes:
            record(self.history, 'maintenance', '%s entered maintenance '
                   '(%s)%s' % (report.host, done,
                               ': %s' % reason if reason else ''),
                   host=report.host, outcome='entered',
                   detail={'changes': list(report.changes),
                           'reason': reason})

    def _drain(self, host, locks, parsed_args):
        operator = self.conf.operator
        service = self.nova.service(host)
        view = ha_aggregates.host_view_of(self.nova.aggregates(), host)
        items = plan.plan_drain(
            self.nova.servers_on(host),
            evacuate_all=bool(view.segment and view.segment.evacuate_all),
            source_up=service['state'] == 'up' and not service['forced_down'],
            awaiting_confirmation=self.nova.awaiting_confirmation(host))
        settings = drain.DrainSettings(
            max_concurrent=parsed_args.max_concurrent
            or operator.drain_max_concurrent,
            migration_timeout=parsed_args.timeout
            or operator.drain_migration_timeout,
            poll_interval=operator.drain_poll_interval)
        self._say('draining %d VMs off %s within %s, %d at a time' % (
            len(items), host, 'segment %s' % view.segment_name
            if view.segment_name else 'no segment (any host the scheduler '
            'allows)', settings.max_concurrent))
        runner = drain.Drain(self.nova, host, settings, locks=locks,
                             progress=progress.ProgressBar(self.app.stderr))
        try:
            results = runner.run(items)
        except drain.DrainInterrupted as e:
            results = e.results
            self.exit_code = EXIT_INTERRUPTED
            self._say('interrupted: %s stays in maintenance; run '
                      '"maintenance enter %s" again to resume, or '
                      '"maintenance exit %s"' % (host, host, host))
        for result in results:
            record(self.history, 'maintenance.drain',
                   progress.describe(result), host=host,
                   instance=result.item.id, outcome=result.outcome,
                   detail={'action': result.item.action,
                           'target': result.target or None})
        if not self.exit_code and any(
                r.outcome not in drain.OFF_THE_HOST for r in results):
            self.exit_code = 1
        return results


def _result_row(result):
    item = result.item
    return (item.id, item.name, item.ha, item.priority, item.action,
            result.outcome, result.target, result.detail or item.reason,
            round(result.seconds, 1))


class ExitMaintenance(_MaintenanceCommand, show.ShowOne):
    """Take a host out of maintenance (its VMs are not moved back).

    HA covers the host again and, if maintenance disabled its compute
    service, the service is enabled.
    """

    def take_action(self, parsed_args):
        self._wire()
        try:
            report = self.mark.exit(parsed_args.host)
            vms = len(self.nova.servers_on(parsed_args.host))
            if report.changes:
                record(self.history, 'maintenance', '%s left maintenance '
                       '(%s)' % (report.host, ', '.join(report.changes)),
                       host=report.host, outcome='exited',
                       detail={'changes': list(report.changes)})
        finally:
            self.history.close()
        return EXIT_FIELDS, (report.host, report.maintenance,
                             '; '.join(report.changes) or 'nothing to do',
                             report.service_status, report.service_reason,
                             vms, '; '.join(report.notes))


class ListMaintenance(lister.Lister):
    """List hosts in maintenance and what marks them.

    A host is in maintenance through the maintenance aggregate, any
    aggregate with ha:maintenance=true, or a compute service disabled for
    maintenance.
    """

    def take_action(self, parsed_args):
        nova = maintenance_nova.MaintenanceNova(cli.sdk_connection(self.app))
        aggregates = nova.aggregates()
        services = {s['host']: s for s in nova.compute_services()}
        rows = []
        for host in sorted(services):
            service = services[host]
            if not mark.in_maintenance(aggregates, host, service):
                continue
            view = ha_aggregates.host_view_of(aggregates, host)
            marked_by = [a.name for a in aggregates if host in a.hosts and
                         ha_aggregates.host_view_of([a], host).maintenance]
            if mark.disabled_by_maintenance(service):
                marked_by.append('compute service')
            rows.append((host, view.segment_name or '',
                         ', '.join(marked_by), service['status'],
                         service['disabled_reason'] or '',
                         len(nova.servers_on(host))))
        return LIST_COLUMNS, rows
