"""The engine's intake: messages from the bus, checked, parsed and recorded,
handed to the recovery engine as reports.

The listener calls ``submit_monitor_message`` / ``submit_nova_notification``
from oslo.messaging's executor.  A monitor's message is checked against its
host's key ([event_signing]), parsed, recorded in the history and, unless
it replays one already taken (its report id), handed on: host.down and
host.up to ``host_reports(host, 'down'|'up')``, VM and process failures to
``events(kind, host, subject, cause, at)``; Nova's rebuild notifications make the engine look
at once (``on_nova_news``).  Nothing is decided here: the engine weighs
each report against what it reads (nova_ha.engine).
"""

import collections
import dataclasses
import datetime
import threading

from oslo_log import log as logging

from nova_ha.notifier import events
from nova_ha.notifier import signing

LOG = logging.getLogger(__name__)

REBUILD_NEWS = frozenset(events.REBUILD_EVENT_TYPES.values())
HOST_REPORTS = {events.HOST_DOWN: 'down', events.HOST_UP: 'up'}
PROCESS_REPORTS = {events.PROCESS_DOWN: 'process_down',
                   events.PROCESS_UP: 'process_up'}


@dataclasses.dataclass(frozen=True)
class IntakeSettings:
    seen_ids: int = 10000
    # Signed monitor events (nova_ha.notifier.signing): per-host keys as
    # (host, key) pairs, whether unsigned events are refused (by default,
    # as [event_signing] required), and how old an event may be.
    event_keys: tuple = ()
    signing_required: bool = True
    signing_max_age: float = 300.0


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Recorder:
    """Records to the history; those it cannot take (database down) are
    kept, logged, and written with the next record that goes through."""

    def __init__(self, history):
        self.history = history
        self._lock = threading.Lock()
        self.unrecorded = []

    def __call__(self, kind, message, **fields):
        LOG.info('[%s] %s', kind, message)
        with self._lock:
            pending = self.unrecorded + [(kind, message, fields)]
            self.unrecorded = []
            for i, (k, m, f) in enumerate(pending):
                try:
                    self.history.record(k, m, **f)
                except Exception as e:
                    LOG.error('history unavailable, keeping %d record(s) in '
                              'memory: %s', len(pending) - i, e)
                    self.unrecorded = pending[i:]
                    return


class Intake:
    """``record(kind, message, **fields)`` writes the history (a
    Recorder); ``host_reports(host, 'down'|'up')`` and ``events(kind,
    host, subject, cause, at)`` (kind vm_failure, process_down or
    process_up; subject the VM or the process) hand reports to the
    engine; ``on_nova_news()`` makes it look."""

    def __init__(self, record, settings=IntakeSettings(), now=utcnow, *,
                 host_reports, events, on_nova_news=None):
        self.record = record
        self.host_reports = host_reports
        self.events = events
        self.on_nova_news = on_nova_news
        self.settings = settings
        self.now = now
        self._lock = threading.Lock()
        self._seen = collections.OrderedDict()

    # -- intake -------------------------------------------------------------

    def submit_monitor_message(self, event_type, payload, publisher=None):
        """A message of our topic (signatures checked per
        [event_signing])."""
        refused = signing.check(
            event_type, payload, publisher, dict(self.settings.event_keys),
            self.settings.signing_required, self.now(),
            self.settings.signing_max_age)
        if refused:
            parsed = events.Rejection(
                refused, event_type if isinstance(event_type, str)
                else repr(event_type)[:64], publisher,
                events._excerpt(payload))
        else:
            parsed = events.parse_monitor_event(event_type, payload,
                                                self.now(), publisher)
        return self._take(parsed)

    def submit_nova_notification(self, event_type, payload, publisher=None):
        parsed = events.parse_nova_notification(event_type, payload,
                                                self.now(), publisher)
        return self._take(parsed)

    def _take(self, parsed):
        if parsed is None:
            return None
        if isinstance(parsed, events.Rejection):
            LOG.error('rejected message %s from %s: %s; message: %s',
                      parsed.event_type, parsed.publisher, parsed.reason,
                      parsed.excerpt)
            self.record('event.rejected', 'rejected %s: %s' % (
                parsed.event_type, parsed.reason), outcome='rejected',
                detail={'publisher': parsed.publisher,
                        'excerpt': parsed.excerpt})
            return parsed
        if parsed.type in REBUILD_NEWS:
            # Progress of a move, for the host-failure engine (which
            # records the move's outcome from Nova's records); not an
            # event of its own.
            if self.on_nova_news is not None:
                if parsed.type != events.REBUILD_START:
                    self.on_nova_news()     # a move ended or failed
            return parsed
        if self._replayed(parsed):
            self.record('event.duplicate', 'replayed report %s of %s on %s '
                        'dropped' % (parsed.id, parsed.type, parsed.host),
                        host=parsed.host, instance=parsed.instance)
            return None
        self.record('event.received', '%s on %s%s' % (
            parsed.type, parsed.host,
            (' (%s)' % parsed.cause) if parsed.cause else ''),
            host=parsed.host, instance=parsed.instance,
            detail=parsed.to_dict())
        self._dispatch(parsed)
        return parsed

    def _replayed(self, event):
        if not event.id:
            return False
        with self._lock:
            if event.id in self._seen:
                return True
            self._seen[event.id] = True
            while len(self._seen) > self.settings.seen_ids:
                self._seen.popitem(last=False)
        return False

    def _dispatch(self, event):
        at = event.at.timestamp() if event.at else self.now().timestamp()
        if event.type in HOST_REPORTS:
            self.host_reports(event.host, HOST_REPORTS[event.type])
        elif event.type == events.VM_FAILURE:
            self.events('vm_failure', event.host, event.instance,
                        event.cause or '', at)
        elif event.type in PROCESS_REPORTS:
            self.events(PROCESS_REPORTS[event.type], event.host,
                        event.process, event.cause or '', at)
        # USER_STOP is recorded only: Nova's instance actions keep the
        # fact, which the engine reads.
