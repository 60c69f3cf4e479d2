"""What the history hands out: immutable plain data, no database handles.

Times are aware UTC datetimes; ``to_dict()`` gives ISO 8601 text for JSON
and the CLI.
"""

import dataclasses
import datetime

#: Incident states after which the recovery is over (``closed_at`` is set).
#: ``closed``: an operator closed it (``nova-ha incident close``).
CLOSED_STATES = frozenset((
    'done', 'failed', 'aborted', 'closed',
    # The engine's final states (nova_ha.engine.states and the tables of
    # its other kinds of incident).
    'recovered', 'partial', 'cancelled', 'skipped', 'escalated'))

#: The state an operator's ``close`` request leaves an incident in.
OPERATOR_CLOSED_STATE = 'closed'

#: The state of a newly opened incident unless the engine says otherwise.
OPEN_STATE = 'open'


def _iso(value):
    return value.isoformat() if isinstance(value, datetime.datetime) else value


def _as_dict(obj):
    return {field.name: _iso(getattr(obj, field.name))
            for field in dataclasses.fields(obj)}


@dataclasses.dataclass(frozen=True)
class HistoryRecord:
    """One thing that happened: an event, a decision, a fence result..."""

    id: int
    at: datetime.datetime
    kind: str
    message: str
    host: str | None = None
    instance: str | None = None
    segment: str | None = None
    outcome: str | None = None
    incident: str | None = None
    detail: dict | None = None
    #: The fencing token (incident generation) of the engine that wrote
    #: the record; None for records written outside an incident's owner.
    token: int | None = None

    def to_dict(self):
        return _as_dict(self)


@dataclasses.dataclass(frozen=True)
class Incident:
    """The durable state of one recovery, shared by every engine.

    ``owner`` is the engine working on it and ``generation`` its fencing
    token: each take-over adds one, so a write carrying an older generation
    comes from an engine that lost the incident.  ``operator`` holds the
    operator's pending requests by action (``retry``, ``close``,
    ``confirm_down``), each ``{'who', 'reason', 'at'}``.
    """

    key: str
    kind: str
    host: str | None
    instance: str | None
    state: str
    opened_at: datetime.datetime
    updated_at: datetime.datetime
    closed_at: datetime.datetime | None = None
    detail: dict | None = None
    owner: str | None = None
    generation: int = 0
    operator: dict | None = None

    @property
    def is_open(self):
        return self.closed_at is None

    def to_dict(self):
        result = _as_dict(self)
        result['is_open'] = self.is_open
        return result


@dataclasses.dataclass(frozen=True)
class Step:
    """One step of an incident (``fence``, ``evacuate:<uuid>``...)."""

    name: str
    status: str
    started_at: datetime.datetime
    updated_at: datetime.datetime
    detail: dict | None = None

    def to_dict(self):
        return _as_dict(self)
