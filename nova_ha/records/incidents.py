"""``incident list|show|retry|close`` and ``host confirm-down``.

The operator's side of incidents (one incident = one recovery, e.g. of a
failed host): read them, and post requests the owning engine acts on
(HistoryStore.operator_request).  They use the history database only (the
engine's ``[history] connection``), never Nova, so ``openstack ha incident
...`` asks for no Keystone credentials either.  docs/operator/incidents.md is the
operator's guide.
"""

import argparse
import getpass
import os

from cliff import columns
from cliff import command
from cliff import lister
from cliff import show

from nova_ha.cmd import cli as nova_ha_cli
from nova_ha.history import store as history_store
from nova_ha.records import history as history_cli
from nova_ha.records.history import JSONColumn

LIST_COLUMNS = ('Key', 'Kind', 'Host', 'State', 'Owner', 'Generation',
                'Opened', 'Closed')
SHOW_FIELDS = ('Key', 'Kind', 'Host', 'Instance', 'State', 'Owner',
               'Generation', 'Opened', 'Updated', 'Closed', 'Detail',
               'Operator', 'Steps', 'Records')

#: The incident kind of a failed compute host (nova_ha.engine.states).
HOST_FAILURE = 'host_failure'

_MACHINE_FORMATS = ('json', 'yaml')


class IncidentCommandError(Exception):
    """A refusal the operator can act on; cliff prints it and exits 1."""


class RecordsColumn(columns.FormattableColumn):
    """An incident's records: one line each for people, a list of
    ``{at, kind, outcome, message}`` for programs."""

    def human_readable(self):
        return '\n'.join(
            ' '.join(part for part in (record['at'], record['kind'],
                                       record['outcome'] or '',
                                       record['message']) if part)
            for record in self._value)

    def machine_readable(self):
        return self._value


def _reason(text):
    """argparse type of --reason: non-empty, at most REASON_LENGTH."""
    text = text.strip()
    if not text:
        raise argparse.ArgumentTypeError('must not be empty')
    if len(text) > history_store.REASON_LENGTH:
        raise argparse.ArgumentTypeError(
            'is %d characters long; at most %d' % (
                len(text), history_store.REASON_LENGTH))
    return text


def operator_name(parsed_args):
    """Who asks: --user, else $OS_USERNAME, else the login name."""
    who = parsed_args.user or os.environ.get('OS_USERNAME')
    if not who:
        try:
            who = getpass.getuser()
        except Exception:  # no login name (some containers)
            raise IncidentCommandError(
                'cannot tell who you are: give --user NAME') from None
    return who


class _IncidentStore:
    """Opens the history like ``nova-ha history`` and explains errors."""

    # The history database only: `openstack ha incident` must not ask for
    # Keystone credentials.
    auth_required = False

    def _open_store(self):
        return history_store.HistoryStore(
            nova_ha_cli.config_of(self.app).history.connection)

    def _using_store(self, action):
        """``action(store)``; store errors as messages for the operator."""
        store = self._open_store()
        try:
            return action(store)
        except history_store.HistoryUnavailable as exc:
            raise history_cli.explain(store, exc) from None
        except history_store.UnknownIncident as exc:
            raise IncidentCommandError(
                '%s (nova-ha incident list --all shows every incident)'
                % exc) from None
        except ValueError as exc:
            raise IncidentCommandError(str(exc)) from None
        finally:
            store.close()


class _RequestCommand(_IncidentStore, command.Command):
    """An operator request: --reason (required) and --user."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--reason', required=True, type=_reason,
                            metavar='TEXT',
                            help='why (required; kept in the incident and '
                                 'the history; at most %d characters)'
                                 % history_store.REASON_LENGTH)
        parser.add_argument('--user', metavar='NAME',
                            help='who asks (default: env OS_USERNAME, '
                                 'else your login name)')
        return parser

    def _say(self, text):
        self.app.stdout.write(text + '\n')

    @staticmethod
    def _engine(incident):
        """The engine that acts on the request, as a sentence's subject."""
        if incident.owner is None:
            return 'No engine owns it yet: the one that takes it over'
        return 'Its owner, %s (generation %d),' % (incident.owner,
                                                   incident.generation)


class ListIncidents(_IncidentStore, lister.Lister):
    """List open incidents (recoveries) with their state and owner.

    Oldest first. An incident is one recovery, e.g. of a failed host; its
    owner is the engine working on it, its generation the fencing token
    that engine writes with.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--all', action='store_true', dest='all',
                            help='closed incidents too')
        parser.add_argument('--host', help='only incidents of this host')
        return parser

    def take_action(self, parsed_args):
        incidents = self._using_store(lambda store: store.list_incidents(
            open_only=not parsed_args.all, host=parsed_args.host))
        return LIST_COLUMNS, [
            history_cli.blanks((i.key, i.kind, i.host, i.state, i.owner, i.generation,
                     history_cli.iso(i.opened_at), history_cli.iso(i.closed_at)), parsed_args)
            for i in incidents]


class ShowIncident(_IncidentStore, show.ShowOne):
    """Show one incident: every field, its steps and its records."""

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('key', metavar='KEY',
                            help='incident key (see incident list)')
        return parser

    def take_action(self, parsed_args):
        key = parsed_args.key

        def read(store):
            incident = store.get_incident(key)
            if incident is None:
                raise history_store.UnknownIncident(key)
            return incident, store.steps(key), store.query(incident=key)

        incident, steps, records = self._using_store(read)
        row = (incident.key, incident.kind, incident.host, incident.instance,
               incident.state, incident.owner, incident.generation,
               history_cli.iso(incident.opened_at), history_cli.iso(incident.updated_at),
               history_cli.iso(incident.closed_at), JSONColumn(incident.detail),
               JSONColumn(incident.operator),
               JSONColumn({name: step.status
                           for name, step in steps.items()}),
               RecordsColumn([{'at': history_cli.iso(r.at), 'kind': r.kind,
                               'outcome': r.outcome, 'message': r.message}
                              for r in records]))
        return SHOW_FIELDS, history_cli.blanks(row, parsed_args)


class RetryIncident(_RequestCommand):
    """Ask the engine owning an open incident to try its recovery again.

    The owning engine re-runs every guard against today's state (is the
    host still down, is it fenced, which VMs still need a move) before it
    acts again, and skips the steps already done.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('key', metavar='KEY',
                            help='incident key (see incident list)')
        return parser

    def take_action(self, parsed_args):
        who = operator_name(parsed_args)
        incident = self._using_store(lambda store: store.operator_request(
            parsed_args.key, 'retry', who=who, reason=parsed_args.reason))
        self._say('Retry of incident %s requested by %s.' % (incident.key,
                                                              who))
        self._say('%s re-runs every guard against today\'s state before it '
                  'acts again.' % self._engine(incident))
        self._say('Follow it with: nova-ha incident show %s' % incident.key)


class CloseIncident(_RequestCommand):
    """Close an open incident: its recovery is over, whatever its state.

    The state becomes "closed"; the owning engine stops working on it
    (its later state writes are refused) and no retry or confirm-down is
    accepted for it any more. The history keeps its records.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('key', metavar='KEY',
                            help='incident key (see incident list)')
        return parser

    def take_action(self, parsed_args):
        who = operator_name(parsed_args)
        incident = self._using_store(lambda store: store.operator_request(
            parsed_args.key, 'close', who=who, reason=parsed_args.reason))
        self._say('Incident %s closed by %s (state %s).' % (
            incident.key, who, incident.state))
        if incident.owner is None:
            self._say('No engine owns it; nothing done so far is undone.')
        else:
            self._say('%s stops working on it; nothing done so far is '
                      'undone.' % self._engine(incident))


class ConfirmHostDown(_RequestCommand):
    """Attest that a host is powered off: the fence proof of its incident.

    Like Pacemaker's `stonith_admin --confirm`: for a failed host nova-ha
    could not fence (power off through its BMC), the operator states it
    is off; the engine owning the host's open host_failure incident then
    evacuates its VMs. Only for that incident: a later failure of the host
    needs its own fence or confirmation. Confirm only what you checked: if
    the host still runs, its VMs run twice and their disks get corrupted.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('host', metavar='HOST',
                            help='compute host (as Nova names it)')
        parser.add_argument('--incident', metavar='KEY',
                            help='the incident this proof is for (default: '
                                 'the host\'s only open %s incident)'
                                 % HOST_FAILURE)
        return parser

    def take_action(self, parsed_args):
        who = operator_name(parsed_args)
        host = parsed_args.host

        def confirm(store):
            key = self._incident_key(store, host, parsed_args.incident)
            return store.operator_request(key, 'confirm_down', who=who,
                                          reason=parsed_args.reason)

        incident = self._using_store(confirm)
        self._say('%s confirmed powered off by %s, for incident %s only.'
                  % (host, who, incident.key))
        self._say('%s takes this as the fence proof of %s and goes on with '
                  'the recovery.' % (self._engine(incident), host))
        self._say('Follow it with: nova-ha incident show %s' % incident.key)

    @staticmethod
    def _incident_key(store, host, key):
        if key is not None:
            incident = store.get_incident(key)
            if incident is None:
                raise history_store.UnknownIncident(key)
            if incident.host != host:
                raise IncidentCommandError(
                    'incident %s is about host %s, not %s' % (
                        key, incident.host or '(none)', host))
            return key
        incidents = store.list_incidents(open_only=True, host=host,
                                         kind=HOST_FAILURE)
        if not incidents:
            raise IncidentCommandError(
                'host %s has no open %s incident: no recovery waits for a '
                'proof that it is down (nova-ha incident list --all --host '
                '%s shows its incidents)' % (host, HOST_FAILURE, host))
        if len(incidents) > 1:
            raise IncidentCommandError(
                'host %s has %d open %s incidents (%s): give the one this '
                'proof is for with --incident KEY' % (
                    host, len(incidents), HOST_FAILURE,
                    ', '.join(i.key for i in incidents)))
        return incidents[0].key
