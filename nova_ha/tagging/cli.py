"""``vm tag|untag|show`` and ``segment list|show|set``.

The same classes run as ``nova-ha ...`` and ``openstack ha ...``; they reach
options and Nova only through nova_ha.cmd.cli.config_of / sdk_connection.
Unknown values are refused by argparse with the list of valid ones, built
from nova_ha.model (the one definition of the contract).
"""

import argparse

from cliff import lister
from cliff import show
from osc_lib.cli import format_columns

from nova_ha.cmd import cli
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers
from nova_ha.records.history import JSONColumn
from nova_ha.tagging import nova as tagging_nova
from nova_ha.tagging import segments
from nova_ha.tagging import servers as tagging_servers


class OperatorCommandError(Exception):
    """A refusal the operator can act on; cliff prints it and exits 1."""


def gateway_of(app_):
    return tagging_nova.OperatorNova(cli.sdk_connection(app_))


def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r is not a whole number (%s is an integer, higher is '
            'recovered first)' % (text, ha_servers.PRIORITY_KEY)) from None


# -- VMs -----------------------------------------------------------------

VM_FIELDS = ('ID', 'Name', 'Host', 'Segment', 'HA', 'Priority',
             'HA metadata', 'Note', 'Problems')


def vm_record(server, aggregates, note=''):
    """The VM's HA facts as the engine would judge them now."""
    view = ha_aggregates.host_view_of(aggregates, server['host'])
    segment = view.segment
    policy = ha_servers.server_policy(
        server['metadata'],
        evacuate_all=bool(segment and segment.evacuate_all))
    return (server['id'], server['name'], server['host'] or '',
            view.segment_name or '', policy.enabled, policy.priority,
            JSONColumn(tagging_servers.ha_metadata(server['metadata'])),
            note, format_columns.ListColumn(policy.problems))


class _VMCommand(show.ShowOne):

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('server', metavar='SERVER',
                            help='server name or ID (any project)')
        return parser

    def _find(self, nova, name_or_id):
        try:
            return nova.find_server(name_or_id)
        except tagging_nova.NotFound as e:
            raise OperatorCommandError(str(e)) from None

    def _show(self, nova, server_id, note=''):
        return VM_FIELDS, vm_record(nova.server(server_id),
                                    nova.aggregates(), note)


class ShowVM(_VMCommand):
    """Show a VM's HA policy: tagged or not, priority, and why."""

    def take_action(self, parsed_args):
        nova = gateway_of(self.app)
        server = self._find(nova, parsed_args.server)
        return self._show(nova, server['id'])


class TagVM(_VMCommand):
    """Tag a VM as HA (ha:enabled=true), optionally with its priority."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--priority', type=_integer, metavar='N',
                            help='ha:priority: higher is recovered first '
                                 '(default when never set: 0)')
        return parser

    def take_action(self, parsed_args):
        nova = gateway_of(self.app)
        server = self._find(nova, parsed_args.server)
        change = tagging_servers.tag(parsed_args.priority)
        nova.set_server_metadata(server['id'], change.set)
        return self._show(nova, server['id'])


class UntagVM(_VMCommand):
    """Remove a VM's HA tag (ha:enabled, HA_Enabled, ha:priority).

    In a segment with ha:evacuate_all=true the VM opts out with
    ha:enabled=false instead, since every untagged VM is HA there.
    """

    def take_action(self, parsed_args):
        nova = gateway_of(self.app)
        server = self._find(nova, parsed_args.server)
        view = ha_aggregates.host_view_of(nova.aggregates(), server['host'])
        change = tagging_servers.untag(
            server['metadata'],
            evacuate_all=bool(view.segment and view.segment.evacuate_all),
            segment=view.segment_name)
        nova.delete_server_metadata(server['id'], change.delete)
        nova.set_server_metadata(server['id'], change.set)
        return self._show(nova, server['id'], change.note)


# -- segments ------------------------------------------------------------

SEGMENT_COLUMNS = ('Name', 'Recovery method', 'Enabled', 'Evacuate all',
                   'Hosts', 'Reserved hosts', 'Maintenance hosts',
                   'Aggregates', 'Problems')


def segment_row(summary):
    policy = summary.policy
    return (summary.name, policy.recovery_method.value, policy.enabled,
            policy.evacuate_all,
            format_columns.ListColumn(summary.hosts),
            format_columns.ListColumn(summary.reserved_hosts),
            format_columns.ListColumn(summary.maintenance_hosts),
            format_columns.ListColumn(summary.aggregates),
            format_columns.ListColumn(summary.problems))


def _segment(nova, name):
    try:
        return segments.find(segments.summarize(nova.aggregates()), name)
    except segments.UnknownSegment as e:
        raise OperatorCommandError(str(e)) from None


class ListSegments(lister.Lister):
    """List failover segments with their hosts and recovery policy."""

    def take_action(self, parsed_args):
        summaries = segments.summarize(gateway_of(self.app).aggregates())
        return SEGMENT_COLUMNS, [segment_row(s) for s in summaries]


class ShowSegment(show.ShowOne):
    """Show one failover segment."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('segment', metavar='SEGMENT',
                            help='segment name (%s)'
                                 % ha_aggregates.SEGMENT_KEY)
        return parser

    def take_action(self, parsed_args):
        summary = _segment(gateway_of(self.app), parsed_args.segment)
        return SEGMENT_COLUMNS, segment_row(summary)


class SetSegment(ShowSegment):
    """Set a failover segment's recovery policy.

    The keys are written on every aggregate that declares the segment.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument(
            '--recovery-method', choices=ha_aggregates.RECOVERY_METHODS,
            help='%s: where a failed host\'s VMs may go (see README)'
                 % ha_aggregates.RECOVERY_METHOD_KEY)
        enabled = parser.add_mutually_exclusive_group()
        enabled.add_argument('--enabled', dest='enabled', default=None,
                             action='store_true',
                             help='automatic recovery on (%s=true)'
                                  % ha_aggregates.ENABLED_KEY)
        enabled.add_argument('--disabled', dest='enabled',
                             action='store_false',
                             help='automatic recovery off for the whole '
                                  'segment (%s=false)'
                                  % ha_aggregates.ENABLED_KEY)
        evacuate = parser.add_mutually_exclusive_group()
        evacuate.add_argument('--evacuate-all', dest='evacuate_all',
                              default=None, action='store_true',
                              help='every VM of the segment is HA unless '
                                   'it says ha:enabled=false (%s=true)'
                                   % ha_aggregates.EVACUATE_ALL_KEY)
        evacuate.add_argument('--no-evacuate-all', dest='evacuate_all',
                              action='store_false',
                              help='only tagged VMs are HA (%s=false)'
                                   % ha_aggregates.EVACUATE_ALL_KEY)
        return parser

    def take_action(self, parsed_args):
        metadata = segments.segment_metadata(
            recovery_method=parsed_args.recovery_method,
            enabled=parsed_args.enabled,
            evacuate_all=parsed_args.evacuate_all)
        if not metadata:
            raise OperatorCommandError(
                'nothing to set: give --recovery-method, --enabled/'
                '--disabled or --evacuate-all/--no-evacuate-all')
        nova = gateway_of(self.app)
        summary = _segment(nova, parsed_args.segment)
        for aggregate_id in summary.aggregate_ids:
            nova.set_aggregate_metadata(aggregate_id, metadata)
        return super().take_action(parsed_args)
