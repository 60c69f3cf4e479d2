"""``nova-ha report availability`` and ``nova-ha report timeline`` (cliff
Listers: ``-f table|json|yaml|csv|value``; also under ``openstack ha``).

Both read the history (``[history] connection``).  ``report
availability`` also asks Nova, when it can, which HA VMs each segment has
now (the denominator of a segment's availability) and which segment a
host is in; ``--history-only`` skips that.
"""

import datetime

from oslo_log import log as logging

from nova_ha.cmd import cli
from nova_ha.history import store as history_store
from nova_ha.history import timespec
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers
from nova_ha.notifier import nova as ha_nova
from nova_ha.records import history as history_cli
from nova_ha.reports import availability
from nova_ha.reports import chart
from nova_ha.reports import source
from nova_ha.reports import timeline

LOG = logging.getLogger(__name__)

DEFAULT_PERIOD = datetime.timedelta(days=30)


def _percent(fraction):
    return round(fraction * 100, 6)


def _seconds(value):
    return None if value is None else round(value, 3)


class _ReportCommand(history_cli._HistoryCommand):
    """A Lister reading the history named by the nova-ha options of
    either CLI."""

    def _open_store(self):
        return history_store.HistoryStore(
            cli.config_of(self.app).history.connection)

    def _from_history(self, read):
        """``read(store)``, with a clear error when the history cannot
        answer."""
        store = self._open_store()
        try:
            return read(store)
        except history_store.HistoryUnavailable as exc:
            raise self._explain(store, exc) from None
        finally:
            store.close()


class NovaFacts:
    """What Nova says now: host -> segment, segment -> HA VM ids, names."""

    def __init__(self, host_segments=None, population=None, names=None):
        self.host_segments = host_segments or {}
        self.population = population or {}
        self.names = names or {}

    @classmethod
    def read(cls, connection):
        nova = ha_nova.NovaGateway(connection)
        aggregates = nova.aggregates()
        facts = cls()
        hosts = sorted({h for a in aggregates for h in a.hosts})
        for host in hosts:
            view = ha_aggregates.host_view_of(aggregates, host)
            if view.segment is None:
                continue
            facts.host_segments[host] = view.segment.name
            members = facts.population.setdefault(view.segment.name, set())
            for server in nova.servers_on(host):
                facts.names[server['id']] = server['name'] or ''
                if ha_servers.server_policy(
                        server['metadata'],
                        evacuate_all=view.segment.evacuate_all).enabled:
                    members.add(server['id'])
        return facts


class ReportAvailability(_ReportCommand):
    """VM availability over a period, per VM or per segment.

    Downtime runs from the failure to the VM being ACTIVE again
    (evacuated, or restarted in place); a VM that never came back counts
    until the end of the period. Per VM: the VMs with an outage in the
    period. Per segment: averaged over the segment's HA VMs (from Nova;
    with --history-only, over the affected VMs only), with the mean
    recovery time, the figure `capacity plan --recovery-time` wants.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--since', type=history_cli._time_argument,
                            metavar='TIME',
                            help='start of the period (default 30 days '
                                 'ago): ' + timespec.HELP)
        parser.add_argument('--until', type=history_cli._time_argument,
                            metavar='TIME',
                            help='end of the period, exclusive (default '
                                 'now): ' + timespec.HELP)
        parser.add_argument('--by', choices=('vm', 'segment'), default='vm',
                            help='one row per VM (default) or per segment')
        parser.add_argument('--segment', metavar='NAME',
                            help='only this segment')
        parser.add_argument('--history-only', action='store_true',
                            help='do not ask Nova for segments, HA VMs and '
                                 'names')
        parser.add_argument('--long', action='store_true',
                            help='add each VM\'s outages (always present '
                                 'with -f json and -f yaml)')
        return parser

    def take_action(self, parsed_args):
        now = datetime.datetime.now(datetime.timezone.utc)
        until = parsed_args.until or now
        since = parsed_args.since or until - DEFAULT_PERIOD
        facts, basis = self._nova_facts(parsed_args)
        outages = self._from_history(lambda store: source.load_outages(
            store, since, until, facts.host_segments))
        vm_rows = [
            row for row in availability.per_vm(outages, since, until)
            if parsed_args.segment in (None, row.segment)]
        if parsed_args.by == 'segment':
            population = {s: ids for s, ids in facts.population.items()
                          if parsed_args.segment in (None, s)}
            return self._segment_rows(availability.per_segment(
                vm_rows, since, until, population), basis, parsed_args)
        return self._vm_rows(vm_rows, facts, parsed_args)

    def _nova_facts(self, parsed_args):
        if parsed_args.history_only:
            return NovaFacts(), 'affected VMs (history only)'
        try:
            return (NovaFacts.read(cli.sdk_connection(self.app)),
                    'HA VMs in Nova now')
        except Exception as exc:  # any failure to reach Nova: degrade
            LOG.warning('Nova could not be read (%s); segments and VM '
                        'counts come from the history only', exc)
            return NovaFacts(), 'affected VMs (Nova unreachable)'

    def _vm_rows(self, vm_rows, facts, parsed_args):
        detail = self._wants_detail(parsed_args)
        headers = ('VM', 'Name', 'Segment', 'Outages', 'Unresolved',
                   'Downtime s', 'Availability %')
        if detail:
            headers += ('Incidents',)
        rows = []
        for vm in vm_rows:
            row = (vm.vm_id, vm.vm_name or facts.names.get(vm.vm_id, ''),
                   vm.segment, len(vm.outages), vm.unresolved,
                   _seconds(vm.downtime_s), _percent(vm.availability))
            if detail:
                row += (history_cli.JSONColumn([{
                    'incident': o.incident, 'cause': o.cause,
                    'host': o.host, 'start': history_cli.iso(o.start),
                    'end': history_cli.iso(o.end), 'outcome': o.outcome}
                    for o in vm.outages]),)
            rows.append(history_cli.blanks(row, parsed_args))
        return headers, rows

    @staticmethod
    def _segment_rows(segments, basis, parsed_args):
        headers = ('Segment', 'VMs', 'Affected', 'Incidents', 'Downtime s',
                   'Mean recovery s', 'Availability %', 'Basis')
        rows = [history_cli.blanks(
            (s.segment or '(unknown)', s.vms, s.affected, s.incidents,
             _seconds(s.downtime_s), _seconds(s.mean_recovery_s),
             _percent(s.availability), basis), parsed_args)
            for s in segments]
        return headers, rows


class ReportTimeline(_ReportCommand):
    """Show the recovery timeline of one incident, step by step.

    Each row with its start, end and duration, counted from the failure:
    detection, each state the incident went through, the fence, the
    force-down, each VM's evacuation (from Nova's acceptance to its
    outcome), disabling the host, and the total.

    INCIDENT is a key from `nova-ha history incidents`, or the start of
    exactly one. The VM column names the VM a row moved (the step name
    holds its id). --png draws the timeline as a Gantt chart.
    """

    # Only the history is read: `openstack ha report timeline` needs no
    # cloud credentials (the client asks for them unless told so).
    auth_required = False

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('incident', metavar='INCIDENT',
                            help='incident key (or its unique beginning)')
        parser.add_argument('--png', metavar='FILE',
                            help='also draw the timeline into this PNG file')
        return parser

    def take_action(self, parsed_args):
        def read(store):
            incident = source.find_incident(store, parsed_args.incident)
            return (incident,) + source.timeline_inputs(store, incident)

        incident, steps, records = self._from_history(read)
        rows = timeline.incident_timeline(incident, steps, records)
        names = timeline.vm_names(steps, incident)
        if parsed_args.png:
            chart.draw_timeline(incident, rows, parsed_args.png)
            LOG.info('timeline of %s drawn in %s', incident.key,
                     parsed_args.png)
        headers = ('Step', 'VM', 'Status', 'Start', 'End', 'At s',
                   'Seconds', 'Detail')
        out = [history_cli.blanks(
            (row.step, names.get(row.instance, row.instance), row.status,
             history_cli.iso(row.start),
             history_cli.iso(row.end), row.at_s, row.duration_s,
             row.detail), parsed_args) for row in rows]
        return headers, out

