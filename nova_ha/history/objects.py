"""What the history hands out: immutable plain data, no database handles.

Times are aware UTC datetimes; ``to_dict()`` gives ISO 8601 text for JSON
and the CLI.
"""

import dataclasses
import datetime

#: Incident states after which the recovery is over (``closed_at`` is set).
CLOSED_STATES = frozenset(('done', 'failed', 'aborted'))

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

    def to_dict(self):
        return _as_dict(self)


@dataclasses.dataclass(frozen=True)
class Incident:
    """The durable state of one recovery, shared by every engine."""

    key: str
    kind: str
    host: str | None
    instance: str | None
    state: str
    opened_at: datetime.datetime
    updated_at: datetime.datetime
    closed_at: datetime.datetime | None = None
    detail: dict | None = None

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
