"""What the decision core reads (observations) and what it asks (actions).

Plain frozen data: the real environment and the simulated cloud both build
observations from what they see and run the actions the core returns.
"""

import dataclasses
from typing import Optional

# Nova's migration statuses.  A move is in flight from its request until
# Nova has switched the server to its new host (evacuation: 'done').
MIGRATION_IN_FLIGHT = frozenset((
    'accepted', 'queued', 'preparing', 'pre-migrating', 'migrating',
    'running', 'post-migrating', 'confirming', 'finished', 'reverting'))
MIGRATION_FAILED = frozenset(('error', 'failed', 'cancelled'))

# Liveness of a host from the coordination heartbeats.
ALIVE = 'alive'
LOST = 'lost'


@dataclasses.dataclass(frozen=True)
class Service:
    """A nova-compute service as Nova's os-services shows it."""

    host: str
    id: str = None
    up: bool = True                  # Nova's own servicegroup verdict
    forced_down: bool = False
    disabled: bool = False
    disabled_reason: str = None
    heartbeat_age: Optional[float] = None   # seconds since updated_at


@dataclasses.dataclass(frozen=True)
class Server:
    id: str
    name: str
    host: str
    status: str                      # ACTIVE, SHUTOFF, ERROR, DELETED...
    task_state: Optional[str] = None
    metadata: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Migration:
    id: str
    instance: str
    type: str                        # evacuation, live-migration, ...
    status: str
    source: str
    dest: Optional[str] = None
    created: float = 0.0


@dataclasses.dataclass(frozen=True)
class Aggregate:
    id: str
    name: str
    hosts: tuple
    metadata: dict


@dataclasses.dataclass(frozen=True)
class Report:
    """A monitor's report, a hint the core weighs against what it reads:
    ``kind`` vm_failure (``subject``: the VM, ``cause``: crash, watchdog,
    panic, io_error...), process_down or process_up (``subject``: the
    process)."""

    kind: str
    host: str
    subject: str
    cause: str = ''
    at: float = 0.0


@dataclasses.dataclass(frozen=True)
class StoredIncident:
    """An incident as the shared history holds it."""

    key: str
    host: str
    state: str
    opened_at: float
    since: float
    owner: Optional[str]
    generation: int
    facts: dict
    operator: dict = dataclasses.field(default_factory=dict)
    closed: bool = False

    @property
    def kind(self):
        return self.key.split(':', 1)[0]


@dataclasses.dataclass(frozen=True)
class Result:
    """What came of one action."""

    action: 'Action'
    ok: bool
    value: object = None
    error: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class Observation:
    """What one replica sees at one moment.  A field is None when its
    source did not answer (that is an observation too)."""

    me: str
    services: Optional[dict]          # host -> Service
    liveness: Optional[dict]          # host -> ALIVE | LOST
    aggregates: Optional[tuple]       # Aggregate
    incidents: Optional[tuple]        # StoredIncident: every open one, and
                                      # each host's latest closed one
    leases: dict                      # incident key -> held by someone?
    servers: dict                     # host -> tuple of Server (failed hosts)
    vms: dict                         # vm id -> Server (VMs being moved)
    migrations: dict                  # vm id -> tuple of Migration
    reports: tuple = ()               # (host, 'down'|'up', at) hints
    results: tuple = ()               # Result
    inflight: frozenset = frozenset()  # action ids still running
    # Services and aggregates were read in this look (not reused from a
    # recent one): the guards judge only from such a look.
    fresh: bool = True
    # observer host -> servicegroup.channels.PeerView of the suspects'
    # segments (None: not read, or the backend did not answer).
    peer_views: Optional[dict] = None
    # host -> since when its monitor reports nova-compute dead on the live
    # host (None: not known).
    process_down: Optional[dict] = None
    # host -> when its coordination heartbeat was reported lost (None: not
    # known).
    lost_at: Optional[dict] = None
    # Monitors' reports of VM and process failures (Report), received by
    # this replica since its last look.
    events: tuple = ()
    # vm id -> Server, of the VMs of the VM-failure incidents it owns
    # (a VM that is gone: status DELETED).
    failed_vms: dict = dataclasses.field(default_factory=dict)
    # vm id -> whether its owner stopped it (Nova's instance actions), for
    # the VM-failure incidents about to decide.
    stopped_by_user: dict = dataclasses.field(default_factory=dict)


# -- actions ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Action:
    """A side effect for the executor.  ``incident`` and ``token`` name the
    owner's lease: the executor refuses a GUARDED action when that lease
    is no longer this replica's at that generation.  ``id`` names what the
    action is about (TARGET): the core asks for it once until it answers."""

    incident: Optional[str] = None
    token: int = 0

    TARGET = ('incident',)
    # Needs the lease (everything that touches a host, VM or Nova).
    GUARDED = True

    @property
    def id(self):
        return ':'.join([type(self).__name__] +
                        [str(getattr(self, name)) for name in self.TARGET])

    @property
    def guarded(self):
        return self.GUARDED

    @property
    def needs_dead(self):
        """The host that must not heartbeat when this action is sent (it
        fences the host, or starts a copy of its VMs); None."""
        return None


@dataclasses.dataclass(frozen=True)
class OpenIncident(Action):
    """Open incident number ``sequence`` of ``kind`` about ``subject``
    (a host failure's subject is its host), with first ``facts``; the
    monitor's ``report`` that asks for it is weighed again if it fails."""

    host: str = None
    sequence: int = 1
    reason: str = ''
    kind: str = 'host_failure'
    subject: str = None
    facts: tuple = ()                 # (name, value) pairs
    report: 'Report' = None
    TARGET = ('kind', 'host', 'subject')
    GUARDED = False


@dataclasses.dataclass(frozen=True)
class TakeOver(Action):
    generation: int = 0
    GUARDED = False


@dataclasses.dataclass(frozen=True)
class Release(Action):
    """Give the lease up (a clean hand-over, or an incident closed)."""

    GUARDED = False


@dataclasses.dataclass(frozen=True)
class Save(Action):
    """Write the incident (state and facts) to the history, with the
    records of the transitions that led there."""

    state: str = None
    facts: tuple = ()
    records: tuple = ()               # TransitionRecord and Note, in order


@dataclasses.dataclass(frozen=True)
class Note(Action):
    """A history record: a decision, an alert, an observation."""

    kind: str = 'decision'
    message: str = ''
    host: str = None
    instance: str = None
    outcome: str = None
    detail: dict = None
    TARGET = ('incident', 'kind', 'message')
    GUARDED = False


@dataclasses.dataclass(frozen=True)
class ReadPower(Action):
    host: str = None
    TARGET = ('host',)
    GUARDED = False


@dataclasses.dataclass(frozen=True)
class Fence(Action):
    host: str = None
    attempt: int = 1
    # False only for the escalation of a dead nova-compute, which fences
    # a host that lives by design.
    unless_alive: bool = True
    TARGET = ('host', 'attempt')

    @property
    def needs_dead(self):
        return self.host if self.unless_alive else None


@dataclasses.dataclass(frozen=True)
class ForceDown(Action):
    host: str = None
    service_id: str = None
    TARGET = ('host',)


@dataclasses.dataclass(frozen=True)
class Disable(Action):
    host: str = None
    reason: str = ''
    TARGET = ('host',)


@dataclasses.dataclass(frozen=True)
class Evacuate(Action):
    vm: str = None
    keep_running: bool = True
    attempt: int = 1
    source: str = None
    TARGET = ('vm', 'attempt')

    @property
    def needs_dead(self):
        return self.source


@dataclasses.dataclass(frozen=True)
class ResetStaleTask(Action):
    """Clear a task state left by the dead host.  The executor reads the
    VM's migrations again just before, and does nothing if a move is in
    flight or the task state changed (Nova's records are the proof)."""

    vm: str = None
    source: str = None
    task_state: str = None
    to_state: str = 'active'
    TARGET = ('vm',)


@dataclasses.dataclass(frozen=True)
class SetPower(Action):
    """Put a moved VM back as it was: start, stop or reset to error."""

    vm: str = None
    want: str = None                  # ACTIVE, SHUTOFF, ERROR
    TARGET = ('vm', 'want')


@dataclasses.dataclass(frozen=True)
class ReleaseReserved(Action):
    host: str = None
    aggregate: str = None
    TARGET = ('host', 'aggregate')


@dataclasses.dataclass(frozen=True)
class Relay(Action):
    """Hand a monitor's ``report`` to the incident's owner, through the
    history (the owner reads it with the incident).  Refused (the
    incident closed meanwhile), the report is weighed again."""

    request: str = None
    report: Report = None
    TARGET = ('incident', 'request')
    GUARDED = False


@dataclasses.dataclass(frozen=True)
class RestartVM(Action):
    """Start a stopped VM, or hard-reboot it (the guest is recreated from
    Nova's definition), on its own host."""

    vm: str = None
    how: str = 'hard_reboot'          # or 'start'
    attempt: int = 1
    TARGET = ('vm', 'how', 'attempt')


@dataclasses.dataclass(frozen=True)
class MigrateVM(Action):
    """A cold migration: Nova's scheduler picks a host of its segment."""

    vm: str = None
    TARGET = ('vm',)


@dataclasses.dataclass(frozen=True)
class ConfirmMove(Action):
    """Confirm a cold migration that Nova has finished (VERIFY_RESIZE)."""

    vm: str = None
    TARGET = ('vm',)


@dataclasses.dataclass(frozen=True)
class Enable(Action):
    """Enable a compute service again (nova-ha disabled it)."""

    host: str = None
    TARGET = ('host',)


@dataclasses.dataclass(frozen=True)
class ClearRequest(Action):
    """An operator's request has been acted on."""

    request: str = None
    TARGET = ('incident', 'request')
