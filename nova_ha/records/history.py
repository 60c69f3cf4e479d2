"""``nova-ha history`` and ``nova-ha history incidents``: read the history.

Both are cliff Listers, so every cliff output format works
(``-f table|json|yaml|csv|value``, ``-c COLUMN``).  They only read; the
schema is created by nova-ha-engine (or ``HistoryStore.upgrade``).
"""

import argparse
import datetime
import json

from cliff import columns
from cliff import lister

from nova_ha.cmd import cli as nova_ha_cli
from nova_ha.history import migration
from nova_ha.history import store as history_store
from nova_ha.history import timespec

RECORD_COLUMNS = ('ID', 'Time', 'Kind', 'Host', 'Instance', 'Segment',
                  'Outcome', 'Incident', 'Message')
INCIDENT_COLUMNS = ('Key', 'Kind', 'Host', 'Instance', 'State', 'Opened',
                    'Updated', 'Closed')

# Formats read by programs get the full record whatever --long says.
_MACHINE_FORMATS = ('json', 'yaml')


class JSONColumn(columns.FormattableColumn):
    """A dict: compact JSON text in tables, the dict itself in json/yaml."""

    def human_readable(self):
        value = self._value
        return '' if value is None else json.dumps(value, sort_keys=True)

    def machine_readable(self):
        return self._value


def _time_argument(text):
    try:
        return timespec.parse_time(
            text, datetime.datetime.now(datetime.timezone.utc))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def iso(value):
    return None if value is None else value.isoformat()


def blanks(row, parsed_args):
    """None as an empty cell for people, null for programs."""
    if getattr(parsed_args, 'formatter', None) in _MACHINE_FORMATS:
        return tuple(row)
    return tuple('' if value is None else value for value in row)


def explain(store, error):
    """A clearer error when the database merely has no schema yet, or an
    older one than these commands read."""
    try:
        revision = store.schema_revision()
    except history_store.HistoryUnavailable:
        return error
    if revision is None:
        return history_store.HistoryUnavailable(
            'history database %s has no history schema yet: start '
            'nova-ha-engine once (it creates the schema), or check '
            '[history] connection' % store.url)
    head = migration.head_revision()
    if revision != head:
        return history_store.HistoryUnavailable(
            'history database %s has schema revision %s, these commands '
            'need %s: upgrade nova-ha-engine (it upgrades the schema on '
            'start)' % (store.url, revision, head))
    return error


class _HistoryCommand(lister.Lister):

    # Reads the history database only: `openstack ha history` must not ask
    # for Keystone credentials.
    auth_required = False

    def _open_store(self):
        return history_store.HistoryStore(
            nova_ha_cli.config_of(self.app).history.connection)

    def _wants_detail(self, parsed_args):
        return (parsed_args.long
                or getattr(parsed_args, 'formatter', None)
                in _MACHINE_FORMATS)



class ListHistory(_HistoryCommand):
    """List what happened: events, decisions, fencing, VM moves, alerts.

    Oldest first. Filters combine; --kind matches a kind and its dotted
    sub-kinds (--kind event shows event.received and event.rejected).
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--host', help='only records about this host')
        parser.add_argument('--instance', metavar='UUID',
                            help='only records about this instance')
        parser.add_argument('--kind',
                            help='only this kind and its sub-kinds '
                                 '(event, decision, fence, evacuate...)')
        parser.add_argument('--since', type=_time_argument, metavar='TIME',
                            help='from this time on (inclusive): '
                                 + timespec.HELP)
        parser.add_argument('--until', type=_time_argument, metavar='TIME',
                            help='before this time (exclusive): '
                                 + timespec.HELP)
        parser.add_argument('--incident', metavar='KEY',
                            help='only records of this incident')
        parser.add_argument('--limit', type=nova_ha_cli.positive_int, metavar='N',
                            help='only the newest N matching records '
                                 '(still listed oldest first)')
        parser.add_argument('--long', action='store_true',
                            help='add the Detail column (always present '
                                 'with -f json and -f yaml)')
        return parser

    def take_action(self, parsed_args):
        store = self._open_store()
        try:
            records = store.query(
                host=parsed_args.host, instance=parsed_args.instance,
                kind=parsed_args.kind, since=parsed_args.since,
                until=parsed_args.until, incident=parsed_args.incident,
                limit=parsed_args.limit)
        except history_store.HistoryUnavailable as exc:
            raise explain(store, exc) from None
        finally:
            store.close()
        detail = self._wants_detail(parsed_args)
        headers = RECORD_COLUMNS + (('Detail',) if detail else ())
        rows = []
        for record in records:
            row = (record.id, iso(record.at), record.kind, record.host,
                   record.instance, record.segment, record.outcome,
                   record.incident, record.message)
            if detail:
                row += (JSONColumn(record.detail),)
            rows.append(blanks(row, parsed_args))
        return headers, rows


class ListIncidents(_HistoryCommand):
    """List recoveries (incidents) and their state, oldest first."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--open', action='store_true', dest='open_only',
                            help='only incidents still being worked on')
        parser.add_argument('--host', help='only incidents of this host')
        parser.add_argument('--kind',
                            help='only incidents of this kind (exact)')
        parser.add_argument('--long', action='store_true',
                            help='add the Steps and Detail columns (always '
                                 'present with -f json and -f yaml)')
        return parser

    def take_action(self, parsed_args):
        store = self._open_store()
        detail = self._wants_detail(parsed_args)
        try:
            incidents = store.list_incidents(
                open_only=parsed_args.open_only, host=parsed_args.host,
                kind=parsed_args.kind)
            steps = ({incident.key: store.steps(incident.key)
                      for incident in incidents} if detail else {})
        except history_store.HistoryUnavailable as exc:
            raise explain(store, exc) from None
        finally:
            store.close()
        headers = INCIDENT_COLUMNS + (('Steps', 'Detail') if detail else ())
        rows = []
        for incident in incidents:
            row = (incident.key, incident.kind, incident.host,
                   incident.instance, incident.state,
                   iso(incident.opened_at), iso(incident.updated_at),
                   iso(incident.closed_at))
            if detail:
                row += (JSONColumn({name: step.status for name, step
                                    in steps[incident.key].items()}),
                        JSONColumn(incident.detail))
            rows.append(blanks(row, parsed_args))
        return headers, rows
