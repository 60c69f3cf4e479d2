"""Per-host HMAC signatures of monitor events (``nova-ha.event/1``).

Anyone who can publish on the engine's topic could otherwise make the
engine fence any host.  Each compute host's nova-ha-monitor signs what it
publishes with its own key (``[monitor] event_key``); the engine holds every
host's key (``[event_signing] host_keys``) and checks that an event about a
host was signed with that host's key, published by that host's monitor, and
is recent.

The signature is a payload field::

    signature = 'hmac-sha256:' + hex(HMAC-SHA256(key, event_type + '\\n' +
                                                 canonical JSON of the
                                                 payload without signature))

where the canonical JSON is ``json.dumps(sort_keys=True,
separators=(',', ':'), ensure_ascii=False)`` encoded in UTF-8.  Signing the
event type binds the signature to it: a signed ``host.up`` cannot be
replayed as ``host.down``.

Pure: no I/O, the time is given.  Reasons returned by ``check`` go to the
log and the history; they never contain a key.
"""

import datetime
import hashlib
import hmac
import json

SIGNATURE_FIELD = 'signature'
SIGNATURE_PREFIX = 'hmac-sha256:'
PUBLISHER_PREFIX = 'nova-ha-monitor.'

_MAX_SHOWN = 64


def monitor_publisher_id(host):
    """The oslo.messaging publisher id of ``host``'s nova-ha-monitor."""
    return PUBLISHER_PREFIX + host


def _key_bytes(key):
    if isinstance(key, bytes):
        return key
    return key.encode('utf-8')


def _message(event_type, payload):
    unsigned = {k: v for k, v in payload.items() if k != SIGNATURE_FIELD}
    body = json.dumps(unsigned, sort_keys=True, separators=(',', ':'),
                      ensure_ascii=False)
    return (event_type + '\n' + body).encode('utf-8')


def _digest(event_type, payload, key):
    return SIGNATURE_PREFIX + hmac.new(
        _key_bytes(key), _message(event_type, payload),
        hashlib.sha256).hexdigest()


def sign(event_type, payload, key):
    """A copy of ``payload`` with its ``signature`` field for ``key``.

    A signature already in ``payload`` is replaced (it is not signed).
    """
    if not key:
        raise ValueError('an event key must not be empty')
    signed = dict(payload)
    signed.pop(SIGNATURE_FIELD, None)
    signed[SIGNATURE_FIELD] = _digest(event_type, signed, key)
    return signed


def _show(value):
    """``value`` as it may appear in a reason: short, one line."""
    if isinstance(value, str) and value.isprintable():
        text = value
    else:
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN - 3] + '...'


def _verified(event_type, payload, signature, key):
    if not isinstance(event_type, str) or not isinstance(signature, str):
        return False
    try:
        expected = _digest(event_type, payload, key)
    except (TypeError, ValueError):
        # Not JSON-serializable, or unencodable text: cannot be ours.
        return False
    try:
        return hmac.compare_digest(expected.encode('ascii'),
                                   signature.encode('utf-8'))
    except UnicodeEncodeError:
        return False


def _parse_time(value):
    if not isinstance(value, str):
        return None
    try:
        at = datetime.datetime.fromisoformat(value.replace('Z', '+00:00'))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=datetime.timezone.utc)
    return at


def check(event_type, payload, publisher_id, keys, required, now, max_age):
    """Whether the engine may act on a monitor event, as far as signing goes.

    :param event_type: the notification's event type
    :param payload: the notification's payload (normally a dict)
    :param publisher_id: the notification's publisher id
    :param keys: host name -> that host's key (``[event_signing]
        host_keys``); None counts as no keys
    :param required: ``[event_signing] required``
    :param now: the current time (a naive datetime counts as UTC)
    :param max_age: seconds an event's ``at`` may lie in the past, or in
        the future (clock skew), when ``required``
    :returns: None when acceptable, else a short reason (never a key)

    Without ``required``, an unsigned event is accepted (monitors not yet
    signing), and so is a signed event about a host without a key (engine
    not yet configured); a signed event about a host with a key must carry
    that key's signature.  With ``required``, every event must be signed
    with the key of the host it is about, published by that host's monitor
    and be at most ``max_age`` seconds away from ``now``.
    """
    keys = keys or {}
    signature = payload.get(SIGNATURE_FIELD) if isinstance(payload, dict) \
        else None
    if signature is None:
        return 'unsigned event' if required else None
    host = payload.get('host')
    key = keys.get(host) if isinstance(host, str) else None
    if not key:
        if required:
            return 'no event key configured for host %s' % _show(host)
        return None
    if not _verified(event_type, payload, signature, key):
        return 'bad signature'
    if not required:
        return None
    if publisher_id != monitor_publisher_id(host):
        return 'event about host %s published by %s' % (
            _show(host), _show(publisher_id))
    raw_at = payload.get('at')
    at = _parse_time(raw_at)
    if at is None:
        return 'stale event (at %s)' % (
            'missing' if raw_at is None else _show(raw_at))
    if now.tzinfo is None:
        now = now.replace(tzinfo=datetime.timezone.utc)
    age = (now - at).total_seconds()
    if age > max_age or -age > max_age:
        return 'stale event (at %s)' % _show(raw_at)
    return None
