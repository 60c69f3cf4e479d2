"""Incidents: the host-failure incident's states, the table every kind of
incident declares, and the one way to change state.

The engine runs three kinds of incident on the same core, leases and
fencing tokens: host failures (this table), VM failures
(nova_ha.engine.vm_failure) and process failures on a live host
(nova_ha.engine.process_failure).  An incident's key starts with its kind.

==============  ======  =====================================================
state           open?   meaning
==============  ======  =====================================================
detected        open    a host is seen dead; nothing decided yet
confirming      open    liveness lost; waiting for a second channel (BMC
                        power, Nova's own heartbeat) to agree
held            open    a guard refuses for now (maintenance, segment off,
                        storm, settle wait); re-judged on every reconcile
fencing         open    power-off asked of the BMC; waiting for its proof
fenced          open    power-off proven (BMC, or an operator's
                        confirm-down); telling Nova (force-down)
evacuating      open    moves asked of Nova and followed in its migration
                        records; power states restored
parked          open    no proof can be had (fence failed, BMC silent):
                        alerted; resumes only by an operator or a new failure
recovered       closed  every HA VM runs elsewhere; the host stays disabled
partial         closed  some VMs could not be moved: a person must look
cancelled       closed  the host came back before it was fenced (or between
                        two failed fence attempts)
closed          closed  an operator closed it
==============  ======  =====================================================

Every change goes through :func:`transition`, which refuses a change the
table below does not allow and returns the record that the history keeps
("A -> B: why", with the owner's fencing token).
"""

import dataclasses
from typing import Optional

DETECTED = 'detected'
CONFIRMING = 'confirming'
HELD = 'held'
FENCING = 'fencing'
FENCED = 'fenced'
EVACUATING = 'evacuating'
PARKED = 'parked'
RECOVERED = 'recovered'
PARTIAL = 'partial'
CANCELLED = 'cancelled'
CLOSED = 'closed'

OPEN = frozenset((DETECTED, CONFIRMING, HELD, FENCING, FENCED, EVACUATING,
                  PARKED))
FINAL = frozenset((RECOVERED, PARTIAL, CANCELLED, CLOSED))
# States in which the host may still come back on its own: nothing has
# powered it off yet.
BEFORE_FENCE = frozenset((DETECTED, CONFIRMING, HELD, PARKED))

# Allowed changes.  An operator's close is allowed from every open state.
_ALLOWED = {
    DETECTED: {CONFIRMING, HELD, FENCING, FENCED, PARKED, CANCELLED},
    CONFIRMING: {HELD, FENCING, FENCED, PARKED, CANCELLED},
    HELD: {HELD, DETECTED, CONFIRMING, FENCING, FENCED, PARKED, CANCELLED},
    # Cancelled between two attempts (the last failed, none in flight):
    # the host showed life.
    FENCING: {FENCED, PARKED, CANCELLED},
    FENCED: {EVACUATING},
    EVACUATING: {RECOVERED, PARTIAL},
    PARKED: {DETECTED, FENCED, CANCELLED},
}
for _state in OPEN:
    _ALLOWED[_state] = _ALLOWED[_state] | {CLOSED}

KIND = 'host_failure'


@dataclasses.dataclass(frozen=True)
class Table:
    """One kind of incident: its open and final states and the changes
    allowed between them (an operator's close from every open state)."""

    kind: str
    initial: str
    open: frozenset
    final: frozenset
    allowed: dict

    def __post_init__(self):
        for state in self.open:
            self.allowed[state] = set(self.allowed.get(state, ())) | {CLOSED}


TABLES = {}


def declare(kind, initial, open_states, final_states, allowed):
    table = Table(kind, initial, frozenset(open_states),
                  frozenset(final_states) | {CLOSED}, dict(allowed))
    TABLES[kind] = table
    return table


HOST = declare(KIND, DETECTED, OPEN, FINAL, _ALLOWED)


def kind_of(key):
    """An incident's kind, from its key ('host_failure:a1:3' ...)."""
    return key.split(':', 1)[0]


def table_of(key):
    return TABLES.get(kind_of(key), HOST)


class BadTransition(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Incident:
    """The engine's view of one host-failure incident.

    ``token`` is the generation of the lease under which this engine owns
    it (0: not owned here).  ``since`` is when it entered ``state``;
    ``facts`` holds what later states need (the plan, the fence proof,
    counters, timers), all of it written to the history with each
    transition so that another owner continues from it.
    """

    key: str
    host: str
    state: str
    opened_at: float
    since: float
    token: int = 0
    facts: dict = dataclasses.field(default_factory=dict)

    @property
    def kind(self):
        return kind_of(self.key)

    @property
    def is_open(self):
        return self.state in table_of(self.key).open

    def fact(self, name, default=None):
        return self.facts.get(name, default)

    def with_facts(self, **facts):
        merged = dict(self.facts)
        merged.update(facts)
        return dataclasses.replace(self, facts=merged)


@dataclasses.dataclass(frozen=True)
class TransitionRecord:
    key: str
    host: str
    before: str
    after: str
    reason: str
    token: int
    at: float

    def line(self):
        return '%s %s -> %s: %s' % (self.key, self.before, self.after,
                                    self.reason)


def transition(incident, after, reason, now, **facts):
    """``incident`` moved to ``after`` (with ``facts`` merged), and the
    record of the change; BadTransition if the table does not allow it."""
    before = incident.state
    if after not in table_of(incident.key).allowed.get(before, ()):
        raise BadTransition('%s: %s -> %s is not allowed' % (
            incident.key, before, after))
    changed = dataclasses.replace(incident.with_facts(**facts), state=after,
                                  since=now)
    return changed, TransitionRecord(incident.key, incident.host, before,
                                     after, reason, incident.token, now)


def allowed(before, after, kind=KIND):
    return after in TABLES[kind].allowed.get(before, ())


def key_for(host, sequence, kind=KIND, subject=None):
    """Incident keys are per subject (a host; a VM; a host's process) and
    numbered: two replicas that see the same failure propose the same key,
    and the history's unique key lets exactly one of them open it."""
    return '%s:%s:%d' % (kind, subject or host, sequence)


def by_subject(incidents, kind):
    """Of the stored ``incidents`` of ``kind``: subject -> its open one,
    and subject -> (number, its latest one)."""
    current, latest = {}, {}
    for stored in incidents or ():
        if kind_of(stored.key) != kind:
            continue
        subject = subject_of(stored.key)
        if not stored.closed:
            current[subject] = stored
        seq = sequence_of(stored.key) or 0
        if seq >= latest.get(subject, (0, None))[0]:
            latest[subject] = (seq, stored)
    return current, latest


def numbered(key):
    """What a key numbers: its kind and subject (without the sequence)."""
    return key.rsplit(':', 1)[0]


def subject_of(key):
    """The subject part of a key (without kind and sequence)."""
    return key.split(':', 1)[1].rsplit(':', 1)[0]


def sequence_of(key) -> Optional[int]:
    try:
        return int(key.rsplit(':', 1)[1])
    except (IndexError, ValueError):
        return None
