"""What a libvirt domain event means for HA: a VM failure or not.

Pure decisions, no connection: the monitor (libvirt_monitor) turns each
libvirt callback and each domain state read after a reconnect into plain
values, and ``DomainTracker`` answers with the failures to report.

Every lifecycle event and every domain state maps to one *condition*, a
short text such as ``shutoff:crashed`` or ``paused:ioerror``, named after
the state libvirt records: the state read after a reconnect then tells a
failure missed while disconnected from one already reported.  (libvirt's
QEMU driver sends ``STOPPED/FAILED`` when QEMU exits unasked but records
the state as ``shut off (crashed)``; the state ``shut off (failed)`` means
a start that failed.)

Which stops are failures, reasoned from what Nova does (nova 34,
nova/virt/libvirt/driver.py):

- a user's stop, a shelve, a resize or cold migration call ``power_off``:
  ACPI shutdown of the guest (``_clean_shutdown``), then ``_destroy``
  (virDomainDestroy).  libvirt reports ``STOPPED/SHUTDOWN`` when the guest
  powered off, ``STOPPED/DESTROYED`` otherwise; a delete, a hard reboot and
  a rescue destroy the domain too.  A guest OS that powers itself off also
  gives ``STOPPED/SHUTDOWN``.  None of these is a failure;
- a live migration gives ``STOPPED/MIGRATED`` on the source, a managed
  save ``STOPPED/SAVED``, a snapshot revert ``STOPPED/FROM_SNAPSHOT``:
  not failures;
- ``STOPPED/FAILED`` of a running guest means QEMU went away without being
  asked (killed, OOM-killed, emulator crash): a failure (kind
  ``stopped-failed``).  Of a guest that was not running it is a start that
  failed, which the starter (Nova) sees and handles: not a failure;
- ``STOPPED/CRASHED`` means the guest crashed and libvirt applied
  ``<on_crash>`` (Nova sets none: libvirt's default is destroy); after a
  libvirtd restart, a QEMU that died while libvirtd was down is found
  ``shut off (crashed)`` too: a failure (kind ``crashed``);
- ``shut off (daemon)``: libvirtd killed the guest because it could not
  take it back after a restart: a failure (``stopped-failed``);
- the ``CRASHED`` lifecycle event (guest panic, through a pvpanic/hyperv
  panic device): kind ``guest-panic``; the ``STOPPED/CRASHED`` that follows
  belongs to the same incident and is not reported again;
- ``SUSPENDED/IOERROR`` and ``SUSPENDED/WATCHDOG`` pause the guest: kinds
  ``io-error-pause`` and ``watchdog``.  libvirt sends the dedicated I/O
  error (with its reason, e.g. ``enospc``) and watchdog events first; the
  pause that follows is the same incident.

Each failure kind is reported at most once per *episode*: from a start, a
resume or a guest reset of the domain to the next one.  A kind the
operator left out of ``[libvirt_monitor] failure_events`` is recorded but
not reported.
"""

import dataclasses
from typing import Dict, List, Optional

import libvirt

from nova_ha.model.libvirt_kinds import (  # noqa: F401
    CAUSES, CONTROL_ERROR, CRASHED, DEFAULT_FAILURE_KINDS, FAILURE_KINDS,
    GUEST_PANIC, IO_ERROR_IGNORE, IO_ERROR_PAUSE, IO_ERROR_REPORT,
    STOPPED_FAILED, WATCHDOG)

# A kind that means the guest is dead: what follows in the same episode
# (the STOPPED/CRASHED after a panic) is the same incident.
_FATAL_KINDS = frozenset((CRASHED, STOPPED_FAILED, GUEST_PANIC))

RUNNING = 'running'

# DomainEvent types: the libvirt callbacks the monitor subscribes to.
LIFECYCLE = 'lifecycle'
WATCHDOG_EVENT = 'watchdog'
IO_ERROR_EVENT = 'io-error'
CONTROL_ERROR_EVENT = 'control-error'
REBOOT_EVENT = 'reboot'

# Conditions read from libvirt's state that are failures (after a
# reconnect or by the periodic check), with what they mean to an operator.
_FAILURE_CONDITIONS = {
    'shutoff:crashed': (CRASHED, 'the guest crashed or its QEMU process '
                                 'ended unasked'),
    'shutoff:daemon': (STOPPED_FAILED,
                       'libvirtd shut the guest off: it could not take '
                       'it back after a restart'),
    'crashed:panicked': (GUEST_PANIC, 'the guest kernel panicked'),
    'crashed:unknown': (GUEST_PANIC, 'the guest crashed'),
    'paused:ioerror': (IO_ERROR_PAUSE,
                       'the guest was paused on a disk I/O error'),
    'paused:watchdog': (WATCHDOG, 'the guest was paused by its watchdog'),
}


def _names(prefix, suffixes):
    """{libvirt constant value: lower-case suffix}, for the constants this
    binding has (an older libvirt lacks the newest ones)."""
    return {getattr(libvirt, prefix + suffix): suffix.lower()
            for suffix in suffixes if hasattr(libvirt, prefix + suffix)}


# Lifecycle event details and state reasons, by name (libvirt numbers the
# two differently).
_STOPPED_DETAILS = _names('VIR_DOMAIN_EVENT_STOPPED_', (
    'SHUTDOWN', 'DESTROYED', 'CRASHED', 'MIGRATED', 'SAVED', 'FAILED',
    'FROM_SNAPSHOT'))
_SUSPENDED_DETAILS = _names('VIR_DOMAIN_EVENT_SUSPENDED_', (
    'PAUSED', 'MIGRATED', 'IOERROR', 'WATCHDOG', 'RESTORED', 'FROM_SNAPSHOT',
    'API_ERROR', 'POSTCOPY', 'POSTCOPY_FAILED'))
_CRASHED_DETAILS = _names('VIR_DOMAIN_EVENT_CRASHED_', (
    'PANICKED', 'CRASHLOADED'))
_SHUTOFF_REASONS = {
    **_names('VIR_DOMAIN_SHUTOFF_', (
        'UNKNOWN', 'SHUTDOWN', 'DESTROYED', 'CRASHED', 'MIGRATED', 'SAVED',
        'FROM_SNAPSHOT', 'DAEMON')),
    libvirt.VIR_DOMAIN_SHUTOFF_FAILED: 'start-failed',
}
_PAUSED_REASONS = _names('VIR_DOMAIN_PAUSED_', (
    'UNKNOWN', 'USER', 'MIGRATION', 'SAVE', 'DUMP', 'IOERROR', 'WATCHDOG',
    'FROM_SNAPSHOT', 'SHUTTING_DOWN', 'SNAPSHOT', 'CRASHED', 'STARTING_UP',
    'POSTCOPY', 'POSTCOPY_FAILED', 'API_ERROR'))
_CRASHED_REASONS = _names('VIR_DOMAIN_CRASHED_', ('UNKNOWN', 'PANICKED'))
_WATCHDOG_ACTIONS = _names('VIR_DOMAIN_EVENT_WATCHDOG_', (
    'NONE', 'PAUSE', 'RESET', 'POWEROFF', 'SHUTDOWN', 'DEBUG', 'INJECTNMI'))
_IO_ERROR_KINDS = {
    libvirt.VIR_DOMAIN_EVENT_IO_ERROR_NONE: IO_ERROR_IGNORE,
    libvirt.VIR_DOMAIN_EVENT_IO_ERROR_PAUSE: IO_ERROR_PAUSE,
    libvirt.VIR_DOMAIN_EVENT_IO_ERROR_REPORT: IO_ERROR_REPORT,
}
_LIFECYCLE_NAMES = _names('VIR_DOMAIN_EVENT_', (
    'DEFINED', 'UNDEFINED', 'STARTED', 'SUSPENDED', 'RESUMED', 'STOPPED',
    'SHUTDOWN', 'PMSUSPENDED', 'CRASHED'))
# The shut-off reason libvirt's QEMU driver records for each stop.
_STOPPED_CONDITIONS = {
    **{detail: 'shutoff:' + name for detail, name in _STOPPED_DETAILS.items()},
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED: 'shutoff:crashed',
}
# Live lifecycle events that are failures.
_LIFECYCLE_FAILURES = {
    (libvirt.VIR_DOMAIN_EVENT_STOPPED,
     libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED): (
        STOPPED_FAILED, 'the QEMU process ended without being asked to'),
    (libvirt.VIR_DOMAIN_EVENT_STOPPED,
     libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED): (
        CRASHED, 'the guest crashed and was shut off'),
    (libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
     libvirt.VIR_DOMAIN_EVENT_SUSPENDED_IOERROR): (
        IO_ERROR_PAUSE, 'the guest was paused on a disk I/O error'),
    (libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
     libvirt.VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG): (
        WATCHDOG, 'the guest was paused by its watchdog'),
}
_DETAILS_BY_EVENT = {
    libvirt.VIR_DOMAIN_EVENT_STOPPED: _STOPPED_DETAILS,
    libvirt.VIR_DOMAIN_EVENT_SUSPENDED: _SUSPENDED_DETAILS,
    libvirt.VIR_DOMAIN_EVENT_CRASHED: _CRASHED_DETAILS,
}


def _condition(state, detail, names):
    return '%s:%s' % (state, names.get(detail, 'unknown'))


def lifecycle_condition(event, detail):
    """The condition a lifecycle event leaves the domain in; None when the
    event does not change it (defined, undefined, shutdown-in-progress)."""
    if event == libvirt.VIR_DOMAIN_EVENT_STARTED or \
            event == libvirt.VIR_DOMAIN_EVENT_RESUMED:
        return RUNNING
    if event == libvirt.VIR_DOMAIN_EVENT_STOPPED:
        return _STOPPED_CONDITIONS.get(detail, 'shutoff:unknown')
    if event == libvirt.VIR_DOMAIN_EVENT_SUSPENDED:
        return _condition('paused', detail, _SUSPENDED_DETAILS)
    if event == libvirt.VIR_DOMAIN_EVENT_CRASHED:
        return _condition('crashed', detail, _CRASHED_DETAILS)
    if event == libvirt.VIR_DOMAIN_EVENT_PMSUSPENDED:
        return 'pmsuspended'
    return None


def state_condition(state, reason):
    """The condition of a domain from ``virDomainGetState`` (state, reason)."""
    if state in (libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_BLOCKED):
        return RUNNING
    if state == libvirt.VIR_DOMAIN_SHUTOFF:
        return _condition('shutoff', reason, _SHUTOFF_REASONS)
    if state == libvirt.VIR_DOMAIN_PAUSED:
        return _condition('paused', reason, _PAUSED_REASONS)
    if state == libvirt.VIR_DOMAIN_CRASHED:
        return _condition('crashed', reason, _CRASHED_REASONS)
    if state == libvirt.VIR_DOMAIN_PMSUSPENDED:
        return 'pmsuspended'
    if state == libvirt.VIR_DOMAIN_SHUTDOWN:
        return 'shutting-down'
    return 'unknown'


def active(condition):
    """Whether a domain in this condition has a QEMU process (None: a
    domain not known, i.e. not seen running)."""
    return condition is not None and not condition.startswith('shutoff:')


def _words(condition):
    state, _, why = condition.partition(':')
    return '%s (%s)' % (state, why) if why else state


@dataclasses.dataclass(frozen=True)
class DomainEvent:
    """One libvirt domain event, as plain values.

    ``type`` is LIFECYCLE (event, detail), WATCHDOG_EVENT (action),
    IO_ERROR_EVENT (action, reason, device), CONTROL_ERROR_EVENT or
    REBOOT_EVENT (the guest reset itself).
    """

    uuid: str
    name: str
    type: str
    event: Optional[int] = None
    detail: Optional[int] = None
    action: Optional[int] = None
    reason: Optional[str] = None
    device: Optional[str] = None

    def describe(self):
        if self.type != LIFECYCLE:
            return self.type
        details = _DETAILS_BY_EVENT.get(self.event, {})
        return 'event ' + ('%s/%s' % (
            _LIFECYCLE_NAMES.get(self.event, self.event),
            details.get(self.detail, self.detail))).upper()


@dataclasses.dataclass(frozen=True)
class DomainState:
    """A domain as read after connecting: ``virDomainGetState``."""

    uuid: str
    name: str
    state: int
    reason: int

    @property
    def condition(self):
        return state_condition(self.state, self.reason)


@dataclasses.dataclass(frozen=True)
class Failure:
    """A VM failure to report: ``cause`` is the engine's, ``kind`` ours."""

    uuid: str
    name: str
    kind: str
    detail: str

    @property
    def cause(self):
        return CAUSES[self.kind]


def classify(event):
    """The failure kind and its explanation for one event of a running
    guest, before any filter or de-duplication; None when the event is not
    a failure."""
    if event.type == LIFECYCLE:
        if event.event == libvirt.VIR_DOMAIN_EVENT_CRASHED:
            found = (GUEST_PANIC, 'the guest kernel panicked')
        else:
            found = _LIFECYCLE_FAILURES.get((event.event, event.detail))
        if found is None:
            return None
        return found[0], '%s (libvirt: %s)' % (found[1], event.describe())
    if event.type == WATCHDOG_EVENT:
        action = _WATCHDOG_ACTIONS.get(event.action, str(event.action))
        return WATCHDOG, ('the guest watchdog fired (libvirt action: %s)'
                          % action)
    if event.type == IO_ERROR_EVENT:
        kind = _IO_ERROR_KINDS.get(event.action, IO_ERROR_REPORT)
        return kind, ('disk I/O error on %s: %s (libvirt action: %s)' % (
            event.device or 'a disk', event.reason or 'no reason given',
            kind[len('io-error-'):]))
    if event.type == CONTROL_ERROR_EVENT:
        return CONTROL_ERROR, ('libvirt lost control of the guest (error on '
                               'its QEMU monitor)')
    return None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What the tracker made of one event: ``failure`` to report, or, for
    a failure it does not report, ``kind`` and ``why``."""

    failure: Optional[Failure] = None
    kind: Optional[str] = None
    why: Optional[str] = None


NOT_A_FAILURE = Verdict()


@dataclasses.dataclass(frozen=True)
class Reconciliation:
    """What a reconnect found: failures missed while disconnected, and the
    names of running domains that are gone (transient domains that stopped
    while disconnected: why they stopped is lost)."""

    failures: List[Failure]
    vanished: List[str]


@dataclasses.dataclass
class _Domain:
    name: str
    condition: Optional[str]
    reported: set = dataclasses.field(default_factory=set)
    seen: int = 0   # tracker sequence number of the last event applied


class DomainTracker:
    """Which domains exist, their condition, and what was reported.

    Not thread-safe: the monitor calls it under one lock.  ``observe``
    takes live events; after each (re)connection the monitor calls
    ``snapshot_started`` *after* subscribing to events and before reading
    the domains' states, then ``reconcile`` with those states.
    """

    def __init__(self, failure_kinds=DEFAULT_FAILURE_KINDS):
        unknown = set(failure_kinds) - set(FAILURE_KINDS)
        if unknown:
            raise ValueError('unknown failure kinds: %s' % ', '.join(
                sorted(unknown)))
        self.failure_kinds = frozenset(failure_kinds)
        self._domains: Dict[str, _Domain] = {}
        self._sequence = 0

    def condition(self, uuid):
        """The last known condition of a domain (None: not known)."""
        domain = self._domains.get(uuid)
        return domain.condition if domain else None

    def known(self):
        return sorted(self._domains)

    def observe(self, event):
        """Apply one live event; returns a Verdict."""
        self._sequence += 1
        domain = self._domains.get(event.uuid)
        if domain is None:
            domain = self._domains[event.uuid] = _Domain(event.name, None)
        domain.name = event.name
        domain.seen = self._sequence
        if event.type == REBOOT_EVENT:
            # The guest reset itself (e.g. a watchdog reset): a new life.
            domain.reported = set()
            return NOT_A_FAILURE
        if event.type == LIFECYCLE:
            if event.event == libvirt.VIR_DOMAIN_EVENT_UNDEFINED and \
                    not active(domain.condition):
                del self._domains[event.uuid]
                return NOT_A_FAILURE
            if event.event == libvirt.VIR_DOMAIN_EVENT_STOPPED and \
                    not active(domain.condition):
                # A start that failed, or news of a stop already known.
                return NOT_A_FAILURE
            condition = lifecycle_condition(event.event, event.detail)
            if condition is not None:
                self._enter(domain, condition)
        found = classify(event)
        if found is None:
            return NOT_A_FAILURE
        return self._judge(event.uuid, domain, *found)

    def snapshot_started(self):
        """Mark the moment the states about to be read were current."""
        self._sequence += 1
        return self._sequence

    def reconcile(self, states, since, report=True):
        """Compare states read after (re)connecting, or by a periodic
        check, with what was known.

        ``since`` is ``snapshot_started``'s mark: a domain an event touched
        after it is left alone (the event is newer than the read state).
        A domain whose condition changed to a failure while disconnected is
        reported once; with ``report=False`` (the first connection, when
        nothing was known before) the states are only recorded.
        """
        failures = []
        listed = set()
        for state in states:
            listed.add(state.uuid)
            domain = self._domains.get(state.uuid)
            if domain is not None and domain.seen > since:
                continue
            if domain is None:
                domain = self._domains[state.uuid] = _Domain(state.name, None)
            previous, condition = domain.condition, state.condition
            domain.name = state.name
            self._enter(domain, condition)
            if not report or condition == previous or \
                    condition not in _FAILURE_CONDITIONS:
                continue
            kind, words = _FAILURE_CONDITIONS[condition]
            verdict = self._judge(
                state.uuid, domain, kind,
                '%s (found %s by a state check, no event seen; was %s)' % (
                    words, _words(condition),
                    _words(previous) if previous else 'not known'))
            if verdict.failure is not None:
                failures.append(verdict.failure)
        gone = [uuid for uuid, domain in self._domains.items()
                if uuid not in listed and domain.seen <= since]
        vanished = sorted(self._domains[uuid].name for uuid in gone
                          if active(self._domains[uuid].condition))
        for uuid in gone:
            del self._domains[uuid]
        return Reconciliation(failures, vanished)

    @staticmethod
    def _enter(domain, condition):
        """A new episode starts when the guest runs again."""
        if condition == RUNNING and domain.condition != RUNNING:
            domain.reported = set()
        domain.condition = condition

    def _judge(self, uuid, domain, kind, detail):
        if kind not in self.failure_kinds:
            return Verdict(kind=kind, why='%s is not in [libvirt_monitor] '
                                          'failure_events' % kind)
        if kind in domain.reported:
            return Verdict(kind=kind, why='already reported since the guest '
                                          'last started or resumed')
        fatal = domain.reported & _FATAL_KINDS
        if fatal:
            return Verdict(kind=kind, why='the same incident as the %s '
                                          'already reported' % ', '.join(
                                              sorted(fatal)))
        domain.reported.add(kind)
        return Verdict(failure=Failure(uuid, domain.name, kind, detail))
