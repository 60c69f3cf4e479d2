"""The durable history of nova-ha, and the recovery state engines share.

One :class:`HistoryStore` per process, safe to use from many threads; several
processes (engine replicas, the CLI) may share one database.  Two kinds of
data:

* records (:meth:`HistoryStore.record`, :meth:`HistoryStore.query`): an
  append-only story of what happened, scrubbed of secrets on the way in;
* incidents and their steps: the state of each recovery.  The incident key's
  unique constraint decides which engine opened a recovery
  (:meth:`HistoryStore.open_incident` is atomic across processes), and the
  steps tell a successor engine what is already done.  Each incident has an
  owner and a generation, its fencing token: an engine takes an incident
  over with a compare-and-set on the generation
  (:meth:`HistoryStore.claim_incident`), and its writes
  (:meth:`HistoryStore.save_incident`, records with ``token``) carry the
  generation it got, so the write of an engine that lost the incident is
  refused or told apart;
* operator requests on an incident (:meth:`HistoryStore.operator_request`):
  retry, close, confirm the host powered off; the engine clears a request
  once it acted on it (:meth:`HistoryStore.clear_operator_request`).

Any failure to reach the database is raised as :class:`HistoryUnavailable`,
never swallowed: the engine decides what to do (keep the record in memory,
log, retry).  So is a statement that takes longer than the store's
``statement_timeout``, waiting on another transaction's lock included
(the server enforces it), or waiting on a server that went silent (the
client gives up seconds later: PyMySQL's socket timeouts; for libpq,
which has none, TCP keepalives and TCP_USER_TIMEOUT, which a peer that
still acknowledges TCP, a hung server's own kernel say, does not trip).
"""

import contextlib
import datetime
import functools
import json
import math
import os
import threading

from oslo_log import log as logging
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from nova_ha.conf import history as history_conf
from nova_ha.history import migration
from nova_ha.history import models
from nova_ha.history import objects
from nova_ha.history import scrub

LOG = logging.getLogger(__name__)

HistoryRecord = objects.HistoryRecord
Incident = objects.Incident
Step = objects.Step
CLOSED_STATES = objects.CLOSED_STATES
OPEN_STATE = objects.OPEN_STATE
OPERATOR_CLOSED_STATE = objects.OPERATOR_CLOSED_STATE

#: What an operator may ask of an incident (HistoryStore.operator_request).
OPERATOR_ACTIONS = ('retry', 'close', 'confirm_down')

#: What a monitor's report asks of an incident another engine owns, handed
#: to the owner as a request (nova_ha.engine: a VM failed again, a process
#: is back).
MONITOR_REQUESTS = ('failed_again', 'process_up')

#: Longest reason an operator may give for a request.
REASON_LENGTH = 1024

#: Seconds a connection attempt may take before the store reports the
#: database unavailable.
CONNECT_TIMEOUT = 10

#: Seconds one statement may take by default (``[history]
#: statement_timeout``).
STATEMENT_TIMEOUT = history_conf.DEFAULT_STATEMENT_TIMEOUT

#: The client gives a silent server this much longer than the statement
#: timeout: a server that answers enforces the timeout itself and stays
#: usable, so the client's own limit is only for one that cannot answer.
SILENT_SERVER_MARGIN = 1.0

#: Seconds each statement of the schema upgrade at start may take: a
#: migration may rewrite a large table, and an engine may wait for another
#: one's upgrade (the upgrade lock waits up to 60 s).
UPGRADE_STATEMENT_TIMEOUT = 300.0

# Errors that mean "the database cannot serve us now" (down, unreachable,
# locked, or without its schema), as opposed to bugs or bad input.
_UNAVAILABLE_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.ProgrammingError,
    sa_exc.InternalError,
    sa_exc.TimeoutError,
    sa_exc.DisconnectionError,
)


class HistoryUnavailable(Exception):
    """The history database cannot be used right now.

    The message names the database (without its password) and the cause.
    """


class UnknownIncident(KeyError):
    """No incident has the given key."""

    def __str__(self):
        return 'no incident with key %r' % (self.args[0],)


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _utc(value, name):
    """An aware UTC datetime from ``value`` (naive counts as UTC)."""
    if value is None:
        return None
    if not isinstance(value, datetime.datetime):
        raise TypeError('%s must be a datetime, not %r' % (
            name, type(value).__name__))
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


def _name(value, field, required=False):
    """A short text field: str, at most models.NAME_LENGTH characters.

    Over-long values are cut (a record must never be lost for its length)
    and a required one may not be empty.
    """
    if value is None:
        if required:
            raise ValueError('%s is required' % field)
        return None
    value = str(value)
    if required and not value:
        raise ValueError('%s must not be empty' % field)
    if len(value) > models.NAME_LENGTH:
        LOG.warning('history: %s is longer than %d characters; cut',
                    field, models.NAME_LENGTH)
        value = value[:models.NAME_LENGTH]
    return value


def _key(value, what='incident key'):
    """A key or step name: cutting it could merge two, so refuse."""
    if not isinstance(value, str) or not value:
        raise ValueError('%s must be a non-empty string' % what)
    if len(value) > models.NAME_LENGTH:
        raise ValueError('%s longer than %d characters: %r...' % (
            what, models.NAME_LENGTH, value[:40]))
    return value


def _text(value, field, limit):
    """Required operator text: a non-empty string of at most ``limit``
    characters (surrounding blanks dropped).  Refused rather than cut: the
    operator is there to shorten it."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError('%s is required (non-empty text)' % field)
    value = value.strip()
    if len(value) > limit:
        raise ValueError('%s is longer than %d characters (%d)' % (
            field, limit, len(value)))
    return value


def _generation(value, field='generation'):
    """A generation (fencing token): a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError('%s must be a whole number >= 0, not %r' % (
            field, value))
    return value


def _operator_action(action):
    if action not in OPERATOR_ACTIONS + MONITOR_REQUESTS:
        raise ValueError('operator action must be one of %s, not %r' % (
            ', '.join(OPERATOR_ACTIONS + MONITOR_REQUESTS), action))
    return action


def _closing_values(table, state, now):
    """``closed_at`` for an incident moving to ``state`` (see
    HistoryStore.update_incident)."""
    if state in CLOSED_STATES:
        return sa.func.coalesce(table.c.closed_at,
                                sa.literal(now, models.UTCDateTime()))
    return None


def _record_row(kind, message, *, host=None, instance=None, segment=None,
                outcome=None, incident=None, detail=None, at=None,
                token=None):
    """A row of the records table, validated and scrubbed (see
    HistoryStore.record)."""
    return {
        'at': _utc(at, 'at') or utcnow(),
        'kind': _name(kind, 'kind', required=True),
        'message': scrub.scrub_text('' if message is None
                                    else str(message)),
        'host': _name(host, 'host'),
        'instance': _name(instance, 'instance'),
        'segment': _name(segment, 'segment'),
        'outcome': _name(outcome, 'outcome'),
        'incident': _name(incident, 'incident'),
        'detail': _dump_detail(detail),
        'token': None if token is None else _generation(token, 'token'),
    }


def _dump_detail(detail):
    if detail is None:
        return None
    return json.dumps(scrub.scrub_detail(detail), sort_keys=True)


def _load_detail(text):
    return None if text is None else json.loads(text)


def _escape_like(text):
    return (text.replace('\\', '\\\\').replace('%', '\\%')
            .replace('_', '\\_'))


def _guarded(method):
    """Turn "database unusable" errors into HistoryUnavailable."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except _UNAVAILABLE_ERRORS as exc:
            raise self._unavailable(exc) from exc
    return wrapper


class HistoryStore:
    """Durable history and recovery state in an SQL database.

    :param url: SQLAlchemy URL, e.g. ``sqlite:////var/lib/nova-ha/
        history.sqlite``, ``postgresql+psycopg2://user:pw@host/db`` or
        ``mysql+pymysql://user:pw@host/db?charset=utf8mb4``.

    Nothing connects until first use; call :meth:`upgrade` once at start
    to create or upgrade the schema.
    """

    def __init__(self, url, statement_timeout=STATEMENT_TIMEOUT):
        try:
            self._url = sa.engine.make_url(url)
        except sa_exc.ArgumentError:
            raise ValueError('history connection is not an SQLAlchemy URL: '
                             '%s' % scrub.scrub_text(str(url))) from None
        self._safe_url = self._url.render_as_string(hide_password=True)
        if not statement_timeout or statement_timeout <= 0:
            raise ValueError('statement_timeout must be a positive number '
                             'of seconds, not %r' % (statement_timeout,))
        self.statement_timeout = float(statement_timeout)
        self._engine = self._create_engine(self.statement_timeout)
        # SQLite has one writer at a time and parks the others in its busy
        # handler, which sleeps in steps of up to 100 ms: eight threads
        # marking their evacuation steps at once waited up to 0.24 s.
        # Writers of this process queue on a lock instead, handed over at
        # once.  Server databases take concurrent writers as they are.
        self._write_lock = threading.Lock() if self._is_sqlite else None

    def _create_engine(self, statement_timeout):
        """An engine whose every connection gives a statement up after
        ``statement_timeout`` seconds (see _engine_options)."""
        try:
            engine = sa.create_engine(
                self._url, **_engine_options(self._url, statement_timeout))
        except (sa_exc.ArgumentError, ImportError) as exc:
            raise ValueError('cannot use history database %s: %s' % (
                self._safe_url, scrub.scrub_text(str(exc)))) from None
        if self._is_sqlite:
            sa.event.listen(engine, 'connect', _sqlite_on_connect)
        elif self._url.get_backend_name() in _MYSQL_BACKENDS:
            sa.event.listen(engine, 'connect',
                            _mysql_on_connect(statement_timeout))
        return engine

    def __repr__(self):
        return '<HistoryStore %s>' % self._safe_url

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    @property
    def url(self):
        """The database URL with its password hidden."""
        return self._safe_url

    @property
    def _is_sqlite(self):
        return self._url.get_backend_name() == 'sqlite'

    def _unavailable(self, exc):
        cause = getattr(exc, 'orig', None) or exc
        text = str(cause).strip().splitlines()
        text = text[0] if text else type(cause).__name__
        return HistoryUnavailable('history database %s unavailable: %s' % (
            self._safe_url, scrub.scrub_text(text)))

    @contextlib.contextmanager
    def _begin(self):
        """A write transaction (see ``_write_lock``)."""
        with self._writers_turn():
            with self._engine.begin() as connection:
                yield connection

    @contextlib.contextmanager
    def _writers_turn(self):
        """Wait for this process's other SQLite writers, as long as a
        statement may wait for another process's."""
        if self._write_lock is None:
            yield
            return
        if not self._write_lock.acquire(timeout=self.statement_timeout):
            raise HistoryUnavailable(
                'history database %s unavailable: another writer of this '
                'process has held it for %.1f s' % (
                    self._safe_url, self.statement_timeout))
        try:
            yield
        finally:
            self._write_lock.release()

    def close(self):
        """Close every pooled connection."""
        self._engine.dispose()

    # -- schema ---------------------------------------------------------

    @_guarded
    def upgrade(self):
        """Create or upgrade the schema to the newest revision.

        Safe to run from several engines at once: PostgreSQL and MySQL
        serialise it with a database lock, and a run that lost a race on
        SQLite is fine as long as the schema ended at head.
        """
        self._make_sqlite_directory()
        engine = self._upgrade_engine()
        try:
            with engine.begin() as connection:
                with _upgrade_lock(connection):
                    migration.upgrade(connection)
        except sa_exc.DBAPIError:
            if self.schema_revision() == migration.head_revision():
                return
            raise
        finally:
            if engine is not self._engine:
                engine.dispose()

    def _upgrade_engine(self):
        """An engine of its own for the upgrade, with a longer statement
        timeout (an in-memory SQLite database exists only in this
        store's engine)."""
        database = self._url.database
        if self._is_sqlite and (not database or database == ':memory:'):
            return self._engine
        return self._create_engine(UPGRADE_STATEMENT_TIMEOUT)

    @_guarded
    def schema_revision(self):
        """The schema revision of the database (None: no schema yet)."""
        with self._engine.connect() as connection:
            return migration.current_revision(connection)

    def _make_sqlite_directory(self):
        database = self._url.database
        if not self._is_sqlite or not database or database == ':memory:':
            return
        directory = os.path.dirname(os.path.abspath(database))
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise HistoryUnavailable(
                'history database %s unavailable: cannot create %s: %s' % (
                    self._safe_url, directory, exc.strerror)) from exc

    # -- records --------------------------------------------------------

    @_guarded
    def record(self, kind, message, *, host=None, instance=None,
               segment=None, outcome=None, incident=None, detail=None,
               at=None, token=None):
        """Append one record and return its id.

        ``detail`` is stored as JSON after secret-looking keys are masked
        (recursively), and ``message`` loses ``password=...``-like values.
        ``at`` defaults to now (UTC).  ``token`` is the fencing token
        (incident generation) of the engine writing it, if any: it tells a
        stale owner's records apart.
        """
        row = _record_row(kind, message, host=host, instance=instance,
                          segment=segment, outcome=outcome,
                          incident=incident, detail=detail, at=at,
                          token=token)
        with self._begin() as connection:
            result = connection.execute(models.records.insert().values(row))
            return result.inserted_primary_key[0]

    @_guarded
    def query(self, *, host=None, instance=None, kind=None, since=None,
              until=None, incident=None, limit=None):
        """Records matching every given filter, oldest first.

        ``kind`` matches that kind and its dotted sub-kinds (``event``
        matches ``event`` and ``event.received``, not ``eventual``).
        ``since`` is inclusive, ``until`` exclusive.  ``limit`` keeps the
        newest ``limit`` matches (still returned oldest first), like
        ``tail``.
        """
        table = models.records
        where = []
        for column, value in ((table.c.host, host),
                              (table.c.instance, instance),
                              (table.c.incident, incident)):
            if value is not None:
                where.append(column == value)
        if kind is not None:
            prefix = kind if kind.endswith('.') else kind + '.'
            where.append(sa.or_(
                table.c.kind == kind,
                table.c.kind.like(_escape_like(prefix) + '%', escape='\\')))
        if since is not None:
            where.append(table.c.at >= _utc(since, 'since'))
        if until is not None:
            where.append(table.c.at < _utc(until, 'until'))
        statement = sa.select(table).where(*where)
        if limit is not None:
            if int(limit) < 1:
                raise ValueError('limit must be at least 1, not %r' % limit)
            statement = statement.order_by(
                table.c.at.desc(), table.c.id.desc()).limit(int(limit))
        else:
            statement = statement.order_by(table.c.at, table.c.id)
        with self._engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        if limit is not None:
            rows = list(reversed(rows))
        return [_record(row) for row in rows]

    # -- incidents ------------------------------------------------------

    @_guarded
    def open_incident(self, key, kind, *, host=None, instance=None,
                      detail=None, state=OPEN_STATE, owner=None,
                      generation=0):
        """Open the incident ``key`` unless it exists: (incident, created).

        Atomic across processes: when several engines open the same key at
        once, exactly one gets ``created=True`` and the others get that
        same incident with ``created=False``.  An existing incident, open or
        closed, is returned unchanged (its owner and generation too).
        ``owner`` and ``generation`` are those of the new incident: the
        opening engine's name and its fencing token.
        """
        key = _key(key)
        now = utcnow()
        row = {
            'key': key,
            'kind': _name(kind, 'kind', required=True),
            'host': _name(host, 'host'),
            'instance': _name(instance, 'instance'),
            'state': _name(state, 'state', required=True),
            'opened_at': now,
            'updated_at': now,
            'closed_at': now if state in CLOSED_STATES else None,
            'detail': _dump_detail(detail),
            'owner': _name(owner, 'owner'),
            'generation': _generation(generation),
        }
        existing = self.get_incident(key)
        if existing is not None:
            return existing, False
        try:
            with self._begin() as connection:
                connection.execute(models.incidents.insert().values(row))
            created = True
        except sa_exc.IntegrityError:
            # Another process inserted the same key between our read and
            # our insert: the unique constraint made it the winner.
            created = False
        incident = self.get_incident(key)
        if incident is None:
            raise HistoryUnavailable(
                'history database %s lost incident %r right after it was '
                'opened' % (self._safe_url, key))
        return incident, created

    @_guarded
    def get_incident(self, key):
        """The incident ``key``, or None."""
        statement = sa.select(models.incidents).where(
            models.incidents.c.key == key)
        with self._engine.connect() as connection:
            row = connection.execute(statement).mappings().first()
        return None if row is None else _incident(row)

    @_guarded
    def list_incidents(self, *, open_only=False, host=None, kind=None):
        """Incidents, oldest first; ``open_only`` leaves out closed ones."""
        table = models.incidents
        where = []
        if open_only:
            where.append(table.c.closed_at.is_(None))
        if host is not None:
            where.append(table.c.host == host)
        if kind is not None:
            where.append(table.c.kind == kind)
        statement = sa.select(table).where(*where).order_by(
            table.c.opened_at, table.c.id)
        with self._engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        return [_incident(row) for row in rows]

    @_guarded
    def update_incident(self, key, *, state, detail=None):
        """Move the incident to ``state``; ``detail``, if given, replaces.

        A closed state (done, failed, aborted, closed) sets ``closed_at``
        (kept from the first close while the incident stays closed); any
        other state reopens it (``closed_at`` cleared).  Raises
        UnknownIncident.  Not fenced: an engine sharing incidents with
        others uses :meth:`save_incident`.
        """
        table = models.incidents
        state = _name(state, 'state', required=True)
        now = utcnow()
        values = {'state': state, 'updated_at': now,
                  'closed_at': _closing_values(table, state, now)}
        if detail is not None:
            values['detail'] = _dump_detail(detail)
        with self._begin() as connection:
            result = connection.execute(
                table.update().where(table.c.key == key).values(values))
            if result.rowcount == 0:
                raise UnknownIncident(key)

    @_guarded
    def claim_incident(self, key, owner, expected_generation):
        """Take incident ``key`` over for ``owner``: its new generation, or
        None when another claim won.

        A compare-and-set in one UPDATE: it succeeds only while the
        incident's generation is still ``expected_generation`` (what the
        caller last read), and then sets ``owner`` and the generation to
        ``expected_generation + 1``, the caller's fencing token from now
        on.  Of several claims with the same expected generation, on any
        number of processes, exactly one wins.  Raises UnknownIncident.
        """
        table = models.incidents
        key = _key(key)
        owner = _name(owner, 'owner', required=True)
        expected = _generation(expected_generation, 'expected_generation')
        with self._begin() as connection:
            result = connection.execute(
                table.update()
                .where(table.c.key == key, table.c.generation == expected)
                .values(owner=owner, generation=expected + 1,
                        updated_at=utcnow()))
            if result.rowcount == 1:
                return expected + 1
            if not self._exists(connection, key):
                raise UnknownIncident(key)
            return None

    @_guarded
    def save_incident(self, key, *, generation, state, detail=None,
                      records=()):
        """Move the incident to ``state`` if its generation is still
        ``generation``: True when written, False when refused.

        ``records`` (dicts of :meth:`record`'s arguments, ``kind`` and
        ``message`` included) are appended to the incident in the same
        transaction: the history never holds a state without the records
        that say how it came about, even if the writer dies in between.

        The fenced :meth:`update_incident`: ``closed_at`` and ``detail``
        are handled the same way, but the write happens only while the
        incident's generation equals the caller's token.  An engine that
        lost the incident to another (which bumped the generation) gets
        False and nothing is written.  An incident an operator closed
        (state ``closed``) is final: every save is refused, so its owner
        cannot reopen it.  Raises UnknownIncident.
        """
        table = models.incidents
        key = _key(key)
        generation = _generation(generation)
        state = _name(state, 'state', required=True)
        now = utcnow()
        values = {'state': state, 'updated_at': now,
                  'closed_at': _closing_values(table, state, now)}
        if detail is not None:
            values['detail'] = _dump_detail(detail)
        rows = [_record_row(**dict(r, incident=key)) for r in records]
        with self._begin() as connection:
            result = connection.execute(
                table.update()
                .where(table.c.key == key,
                       table.c.generation == generation,
                       table.c.state != OPERATOR_CLOSED_STATE)
                .values(values))
            if result.rowcount == 1:
                if rows:
                    connection.execute(models.records.insert(), rows)
                return True
            if not self._exists(connection, key):
                raise UnknownIncident(key)
            return False

    @_guarded
    def operator_request(self, key, action, *, who, reason, at=None):
        """Record an operator's request on incident ``key``; the updated
        incident.

        ``action`` is ``retry`` (the owning engine re-runs its guards),
        ``close`` (the recovery is over: the state becomes ``closed``) or
        ``confirm_down`` (``who`` attests the incident's host is powered
        off: the fence proof for this incident only).  The request
        ``{'who', 'reason', 'at'}`` is merged into the incident's
        ``operator`` requests under ``action`` (replacing an earlier one of
        the same action), in one transaction holding the incident's row
        lock, so concurrent requests never lose one another; a record
        ``operator.<action>`` tells the history.

        ``who`` (at most 255 characters) and ``reason`` (at most 1024) are
        required text; ``at`` defaults to now.  Raises UnknownIncident, and
        ValueError for bad input or a closed incident (nothing acts on a
        request there).
        """
        key = _key(key)
        action = _operator_action(action)
        who = _text(who, 'who', models.NAME_LENGTH)
        reason = _text(reason, 'reason', REASON_LENGTH)
        at = _utc(at, 'at') or utcnow()
        table = models.incidents
        with self._begin() as connection:
            row = self._locked_incident(connection, key)
            if row['closed_at'] is not None:
                raise ValueError(
                    'incident %s is closed (state %s since %s): nothing '
                    'acts on a %s request any more' % (
                        key, row['state'], row['closed_at'].isoformat(),
                        action.replace('_', '-')))
            if action == 'confirm_down' and not row['host']:
                raise ValueError('incident %s has no host to confirm '
                                 'powered off' % key)
            requests = _load_detail(row['operator']) or {}
            requests[action] = {'who': who, 'reason': reason,
                                'at': at.isoformat()}
            now = utcnow()
            values = {'operator': _dump_detail(requests), 'updated_at': now}
            if action == 'close':
                values['state'] = OPERATOR_CLOSED_STATE
                values['closed_at'] = _closing_values(
                    table, OPERATOR_CLOSED_STATE, now)
            connection.execute(
                table.update().where(table.c.key == key).values(values))
            connection.execute(models.records.insert().values(
                at=at, kind='operator.' + action,
                message=scrub.scrub_text(_request_message(
                    action, who, row['host'], reason)),
                host=row['host'], instance=row['instance'],
                outcome='closed' if action == 'close' else 'requested',
                incident=key,
                detail=_dump_detail({'who': who, 'reason': reason})))
        return self.get_incident(key)

    @_guarded
    def clear_operator_request(self, key, action, generation):
        """Remove the operator's ``action`` request from incident ``key``
        once the engine acted on it: True unless refused.

        Only the incident's owner may clear: when the incident's generation
        is no longer ``generation`` nothing changes and the result is False.
        Clearing a request that is not there is True (nothing to do).
        Raises UnknownIncident.
        """
        key = _key(key)
        action = _operator_action(action)
        generation = _generation(generation)
        table = models.incidents
        with self._begin() as connection:
            row = self._locked_incident(connection, key)
            if row['generation'] != generation:
                return False
            requests = _load_detail(row['operator']) or {}
            if action not in requests:
                return True
            del requests[action]
            connection.execute(
                table.update()
                .where(table.c.key == key, table.c.generation == generation)
                .values(operator=_dump_detail(requests) if requests else None,
                        updated_at=utcnow()))
            return True

    def _exists(self, connection, key):
        table = models.incidents
        return connection.execute(
            sa.select(table.c.id).where(table.c.key == key)).first() \
            is not None

    def _locked_incident(self, connection, key):
        """The incident's row, locked until ``connection``'s transaction
        ends (raises UnknownIncident).

        SELECT ... FOR UPDATE on PostgreSQL and MySQL.  SQLite has no row
        locks and its Python driver opens the transaction only at the first
        write: a no-op write comes first, so the read happens under
        SQLite's database write lock.
        """
        table = models.incidents
        if self._is_sqlite:
            connection.execute(
                table.update().where(table.c.key == key)
                .values(updated_at=table.c.updated_at))
        row = connection.execute(
            sa.select(table).where(table.c.key == key).with_for_update()
        ).mappings().first()
        if row is None:
            raise UnknownIncident(key)
        return row

    @_guarded
    def mark_step(self, key, step, status, detail=None):
        """Record that ``step`` of incident ``key`` is now ``status``.

        The first mark creates the step (``started_at``); later ones
        overwrite status, detail and ``updated_at``.  The incident's
        ``updated_at`` moves too.  Raises UnknownIncident.
        """
        step = _key(step, 'step name')
        status = _name(status, 'status', required=True)
        detail_text = _dump_detail(detail)
        for attempt in range(2):
            try:
                with self._begin() as connection:
                    self._upsert_step(connection, key, step, status,
                                      detail_text)
                return
            except sa_exc.IntegrityError:
                # A concurrent first mark of the same step won; the next
                # attempt updates it.
                if attempt:
                    raise

    def _upsert_step(self, connection, key, step, status, detail_text):
        incidents, steps = models.incidents, models.steps
        now = utcnow()
        touched = connection.execute(
            incidents.update().where(incidents.c.key == key)
            .values(updated_at=now))
        if touched.rowcount == 0:
            raise UnknownIncident(key)
        incident_id = connection.execute(
            sa.select(incidents.c.id).where(incidents.c.key == key)
        ).scalar_one()
        changed = connection.execute(
            steps.update().where(steps.c.incident_id == incident_id,
                                 steps.c.name == step)
            .values(status=status, detail=detail_text, updated_at=now))
        if changed.rowcount == 0:
            connection.execute(steps.insert().values(
                incident_id=incident_id, name=step, status=status,
                started_at=now, updated_at=now, detail=detail_text))

    @_guarded
    def steps(self, key):
        """The steps of incident ``key`` by name, in the order they began
        (empty for an unknown key)."""
        incidents, steps = models.incidents, models.steps
        statement = (
            sa.select(steps).join(incidents,
                                  incidents.c.id == steps.c.incident_id)
            .where(incidents.c.key == key)
            .order_by(steps.c.started_at, steps.c.name))
        with self._engine.connect() as connection:
            rows = connection.execute(statement).mappings().all()
        return {row['name']: Step(name=row['name'], status=row['status'],
                                  started_at=row['started_at'],
                                  updated_at=row['updated_at'],
                                  detail=_load_detail(row['detail']))
                for row in rows}


def _record(row):
    return HistoryRecord(
        id=row['id'], at=row['at'], kind=row['kind'],
        message=row['message'], host=row['host'],
        instance=row['instance'], segment=row['segment'],
        outcome=row['outcome'], incident=row['incident'],
        detail=_load_detail(row['detail']), token=row['token'])


def _incident(row):
    return Incident(
        key=row['key'], kind=row['kind'], host=row['host'],
        instance=row['instance'], state=row['state'],
        opened_at=row['opened_at'], updated_at=row['updated_at'],
        closed_at=row['closed_at'], detail=_load_detail(row['detail']),
        owner=row['owner'], generation=row['generation'],
        operator=_load_detail(row['operator']))


def _request_message(action, who, host, reason):
    """The record's message for an operator request."""
    if action == 'close':
        what = 'closed the incident'
    elif action == 'confirm_down':
        what = 'confirmed %s is powered off' % host
    elif action in MONITOR_REQUESTS:
        what = 'reported %s' % action.replace('_', ' ')
    else:
        what = 'asked to %s' % action
    return 'operator %s %s: %s' % (who, what, reason)


_MYSQL_BACKENDS = ('mysql', 'mariadb')


def _engine_options(url, timeout):
    """create_engine() options that bound every statement by ``timeout``
    seconds: on the server where it enforces it (the connection stays
    usable), and on the client for a server that cannot answer at all.

    PostgreSQL through psycopg2 and MySQL/MariaDB through PyMySQL get both;
    other drivers only the pool's wait and the server's limit set on
    connect (MySQL).  Connection parameters the URL sets are kept.
    """
    backend = url.get_backend_name()
    if backend == 'sqlite':
        # The busy handler: how long a writer waits for another
        # process's lock on the database.
        return {'connect_args': {'timeout': timeout}}
    connect_args = {}
    if 'connect_timeout' not in url.query:
        connect_args['connect_timeout'] = CONNECT_TIMEOUT
    driver = url.get_driver_name()
    if backend == 'postgresql' and driver == 'psycopg2':
        connect_args.update(_libpq_timeouts(url.query, timeout))
    elif backend in _MYSQL_BACKENDS and driver == 'pymysql':
        connect_args.update(_pymysql_timeouts(url.query, timeout))
    return {'pool_pre_ping': True, 'pool_recycle': 3600,
            'pool_timeout': timeout, 'connect_args': connect_args}


def _libpq_timeouts(query, timeout):
    """libpq parameters: the server's statement_timeout, and TCP's own
    limits for a server that went silent (libpq has no read timeout):
    keepalives while a statement waits, TCP_USER_TIMEOUT for data the
    server never acknowledges."""
    options = '-c statement_timeout=%d' % int(timeout * 1000)
    if query.get('options'):
        # The URL's own options come last: an explicit setting wins.
        options += ' ' + query['options']
    silent = timeout + SILENT_SERVER_MARGIN
    found = {'keepalives': 1,
             'keepalives_idle': max(1, math.ceil(timeout)),
             'keepalives_interval': 1,
             'keepalives_count': 2,
             'tcp_user_timeout': int(silent * 1000)}
    found = {name: value for name, value in found.items()
             if name not in query}
    found['options'] = options
    return found


def _pymysql_timeouts(query, timeout):
    """The socket's limits, a little longer than the server's own
    (_mysql_on_connect), so a server that answers does it first."""
    silent = timeout + SILENT_SERVER_MARGIN
    return {name: silent for name in ('read_timeout', 'write_timeout')
            if name not in query}


def _mysql_on_connect(timeout):
    """Statement and lock-wait limits of each new MySQL or MariaDB
    session: MariaDB's max_statement_time covers any statement, MySQL's
    max_execution_time only reads; both wait for row and table locks
    no longer than their own whole-second timeouts."""
    whole = max(1, math.ceil(timeout))

    def on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute('SELECT VERSION()')
            if 'mariadb' in str(cursor.fetchone()[0]).lower():
                cursor.execute('SET SESSION max_statement_time = %.3f'
                               % timeout)
            else:
                cursor.execute('SET SESSION max_execution_time = %d'
                               % int(timeout * 1000))
            cursor.execute('SET SESSION innodb_lock_wait_timeout = %d, '
                           'lock_wait_timeout = %d' % (whole, whole))
        finally:
            cursor.close()
    return on_connect


def _sqlite_on_connect(dbapi_connection, _record):
    """Foreign keys on; WAL so the CLI reads while an engine writes."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute('PRAGMA foreign_keys=ON')
        cursor.execute('PRAGMA journal_mode=WAL')
    finally:
        cursor.close()


class _upgrade_lock:
    """Serialise schema upgrades of several engines on one server."""

    _NAME = 'nova_ha_history_upgrade'

    def __init__(self, connection):
        self._connection = connection
        self._dialect = connection.dialect.name

    def __enter__(self):
        if self._dialect == 'postgresql':
            self._connection.execute(
                sa.text('SELECT pg_advisory_xact_lock(hashtext(:name))'),
                {'name': self._NAME})
        elif self._dialect in ('mysql', 'mariadb'):
            got = self._connection.execute(
                sa.text('SELECT GET_LOCK(:name, :timeout)'),
                {'name': self._NAME, 'timeout': 60}).scalar()
            if got != 1:
                raise HistoryUnavailable(
                    'another nova-ha process has held the history schema '
                    'upgrade lock for 60 s')
        return self

    def __exit__(self, *exc_info):
        if self._dialect in ('mysql', 'mariadb'):
            self._connection.execute(sa.text('SELECT RELEASE_LOCK(:name)'),
                                     {'name': self._NAME})
