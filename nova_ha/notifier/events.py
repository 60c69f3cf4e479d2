"""Events the engine acts on, and the validation of every incoming message.

Two sources feed the engine:

1. Our own topic (``[engine] monitor_topic``, default ``nova_ha``), written by
   nova-ha's monitors and servicegroup watcher with an oslo.messaging
   Notifier.  The notification's ``event_type`` is the event type and its
   payload a flat JSON object (schema ``nova-ha.event/1``):

   ============== ===========================================================
   field          meaning
   ============== ===========================================================
   schema         ``nova-ha.event/1`` (required)
   id             unique id of this report (optional, used to drop replays)
   host           compute host name (required)
   at             ISO 8601 time of the observation (optional, default: now)
   source         who observed it, e.g. ``servicegroup``, ``libvirt`` (opt.)
   instance       server UUID (required for ``vm.failure``)
   cause          ``vm.failure``: crashed, watchdog, io_error, guest_panic,
                  stopped_failed, control_error, nova_power_sync
   process        ``process.*``: nova-compute or libvirtd
   detail         free text (optional)
   ============== ===========================================================

   Event types: ``host.down``, ``host.up``, ``vm.failure``, ``process.down``,
   ``process.up``.

2. Nova's versioned notifications (topic ``versioned_notifications``).  The
   engine uses ``instance.power_off.end``: when Nova's power-state sync stops
   a guest that died under it, the notification has neither a request id nor
   an initiating user (a user's stop has both), which makes it a VM failure;
   a user's stop is remembered so that a late crash report for the same VM
   does not restart what its owner stopped.  ``instance.rebuild.start``,
   ``.end`` and ``.error`` from the compute host that rebuilds an evacuated
   VM make the host-failure engine (nova_ha.engine) look at Nova's records
   of its moves at once, rather than at its next periodic look.

Parsing is pure and never raises on bad input: it returns either an event or
a ``Rejection`` that says what was wrong, for the log and the history.
"""

import dataclasses
import datetime
import uuid as uuid_lib
from typing import Optional, Union

SCHEMA = 'nova-ha.event/1'

HOST_DOWN = 'host.down'
HOST_UP = 'host.up'
VM_FAILURE = 'vm.failure'
PROCESS_DOWN = 'process.down'
PROCESS_UP = 'process.up'
MONITOR_EVENT_TYPES = (HOST_DOWN, HOST_UP, VM_FAILURE, PROCESS_DOWN,
                       PROCESS_UP)
VM_FAILURE_CAUSES = ('crashed', 'watchdog', 'io_error', 'guest_panic',
                     'stopped_failed', 'control_error', 'nova_power_sync')
PROCESSES = ('nova-compute', 'libvirtd')
# Internal, derived from Nova's notifications:
USER_STOP = 'vm.user_stop'
REBUILD_START = 'vm.rebuild.start'
REBUILD_END = 'vm.rebuild.end'
REBUILD_ERROR = 'vm.rebuild.error'
REBUILD_EVENT_TYPES = {'instance.rebuild.start': REBUILD_START,
                       'instance.rebuild.end': REBUILD_END,
                       'instance.rebuild.error': REBUILD_ERROR}

_MAX_TEXT = 1024


@dataclasses.dataclass(frozen=True)
class Event:
    type: str
    host: str
    at: datetime.datetime
    id: Optional[str] = None
    source: Optional[str] = None
    instance: Optional[str] = None
    cause: Optional[str] = None
    process: Optional[str] = None
    detail: Optional[str] = None
    # Nova's vm_state of the instance (rebuild notifications).
    state: Optional[str] = None

    def to_dict(self):
        d = dataclasses.asdict(self)
        d['at'] = self.at.isoformat()
        return {k: v for k, v in d.items() if v is not None}


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A message the engine will not act on, and why."""

    reason: str
    event_type: Optional[str] = None
    publisher: Optional[str] = None
    excerpt: str = ''


Parsed = Union[Event, Rejection, None]


def _excerpt(payload):
    text = repr(payload)
    return text if len(text) <= 300 else text[:297] + '...'


def _text(payload, key, required, problems, max_len=255):
    value = payload.get(key)
    if value is None:
        if required:
            problems.append('missing %r' % key)
        return None
    if not isinstance(value, str) or not value.strip():
        problems.append('%r must be a non-empty string' % key)
        return None
    if len(value) > max_len:
        problems.append('%r is longer than %d characters' % (key, max_len))
        return None
    return value.strip()


def _uuid(payload, key, problems):
    value = _text(payload, key, True, problems)
    if value is None:
        return None
    try:
        return str(uuid_lib.UUID(value))
    except ValueError:
        problems.append('%r is not a UUID: %r' % (key, value[:64]))
        return None


def _time(payload, now, problems):
    value = payload.get('at')
    if value is None:
        return now
    if not isinstance(value, str):
        problems.append("'at' must be an ISO 8601 string")
        return now
    try:
        at = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
    except ValueError:
        problems.append("'at' is not an ISO 8601 time: %r" % value[:64])
        return now
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.timezone.utc)
    return at


def parse_monitor_event(event_type, payload, now, publisher=None):
    """Validate a message from our own topic into an Event or a Rejection."""
    def reject(reason):
        return Rejection(reason, event_type if isinstance(event_type, str)
                         else repr(event_type)[:64], publisher,
                         _excerpt(payload))

    if event_type not in MONITOR_EVENT_TYPES:
        return reject('unknown event type; expected one of %s'
                      % ', '.join(MONITOR_EVENT_TYPES))
    if not isinstance(payload, dict):
        return reject('payload must be a JSON object, got %s'
                      % type(payload).__name__)
    if payload.get('schema') != SCHEMA:
        return reject('schema must be %r, got %r' % (
            SCHEMA, payload.get('schema')))
    problems = []
    fields = {
        'type': event_type,
        'host': _text(payload, 'host', True, problems),
        'at': _time(payload, now, problems),
        'id': _text(payload, 'id', False, problems),
        'source': _text(payload, 'source', False, problems),
        'detail': _text(payload, 'detail', False, problems,
                        max_len=_MAX_TEXT),
    }
    if event_type == VM_FAILURE:
        fields['instance'] = _uuid(payload, 'instance', problems)
        cause = _text(payload, 'cause', True, problems)
        if cause is not None and cause not in VM_FAILURE_CAUSES:
            problems.append('cause %r is not one of %s' % (
                cause, ', '.join(VM_FAILURE_CAUSES)))
        fields['cause'] = cause
    elif event_type in (PROCESS_DOWN, PROCESS_UP):
        process = _text(payload, 'process', True, problems)
        if process is not None and process not in PROCESSES:
            problems.append('process %r is not one of %s' % (
                process, ', '.join(PROCESSES)))
        fields['process'] = process
    if problems:
        return reject('; '.join(problems))
    return Event(**fields)


def parse_nova_notification(event_type, payload, now, publisher=None):
    """Turn the Nova notifications the engine uses into events.

    Returns None for notifications the engine does not use (most of them),
    an Event for those it acts on, a Rejection for malformed ones.
    """
    if event_type != 'instance.power_off.end' and \
            event_type not in REBUILD_EVENT_TYPES:
        return None

    def reject(reason):
        return Rejection(reason, event_type, publisher, _excerpt(payload))

    data = payload.get('nova_object.data') if isinstance(payload, dict) \
        else None
    if not isinstance(data, dict):
        return reject('versioned notification without nova_object.data')
    problems = []
    instance = _uuid(data, 'uuid', problems)
    if event_type in REBUILD_EVENT_TYPES:
        # The rebuilding host is the publisher ("nova-compute:<host>"):
        # the payload's host is still the failed one until Nova finishes
        # the evacuation, moments after the rebuild ends.
        host = _publisher_host(publisher, problems)
        state = _text(data, 'state', False, problems)
    else:
        host = _text(data, 'host', True, problems)
    if problems:
        return reject('; '.join(problems))
    if event_type in REBUILD_EVENT_TYPES:
        return Event(REBUILD_EVENT_TYPES[event_type], host, now,
                     source='nova', instance=instance, state=state)
    initiator = data.get('action_initiator_user')
    request_id = data.get('request_id')
    if initiator is None and request_id is None:
        return Event(VM_FAILURE, host, now, source='nova',
                     instance=instance, cause='nova_power_sync',
                     detail='Nova stopped the server after its guest '
                            'stopped on its own')
    return Event(USER_STOP, host, now, source='nova', instance=instance,
                 detail='stopped by user %s' % initiator)


def _publisher_host(publisher, problems):
    text = publisher if isinstance(publisher, str) else ''
    service, _, host = text.partition(':')
    if service != 'nova-compute' or not host.strip():
        problems.append('publisher must be nova-compute:<host>, got %r'
                        % (publisher if publisher is None
                           else str(publisher)[:64]))
        return None
    return host.strip()


def monitor_payload(event_type, host, **fields):
    """Build a payload for our topic (used by monitors and tests)."""
    payload = {'schema': SCHEMA, 'host': host,
               'id': fields.pop('id', None) or str(uuid_lib.uuid4()),
               'at': fields.pop('at', None) or datetime.datetime.now(
                   datetime.timezone.utc).isoformat()}
    payload.update({k: v for k, v in fields.items() if v is not None})
    return payload
