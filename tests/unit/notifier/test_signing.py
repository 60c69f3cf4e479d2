"""Per-host HMAC signatures of monitor events: what the engine accepts."""

import datetime
import hashlib
import hmac
import json
import unittest

from nova_ha.notifier import events
from nova_ha.notifier import signing

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc)
KEY_C1 = '5f0c1a7e9b3d44e2a6c8d0f1b2e3c4d5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1'
KEY_C2 = 'c2-secret-key-that-must-never-show'
KEYS = {'c1': KEY_C1, 'c2': KEY_C2}
MAX_AGE = 300.0
UUID = '2f1c2a83-5d51-4b57-9e69-5f1d1a0c6a11'


def payload(host='c1', **fields):
    base = {'schema': events.SCHEMA, 'host': host, 'id': 'r1',
            'at': '2026-11-24T11:59:58+00:00', 'source': 'libvirt'}
    base.update(fields)
    return base


def at(seconds_from_now):
    return (NOW + datetime.timedelta(seconds=seconds_from_now)).isoformat()


def signed(event_type='host.down', key=KEY_C1, **fields):
    return signing.sign(event_type, payload(**fields), key)


def tampered(**changes):
    data = signed()
    data.update(changes)
    return data


def with_signature_of(event_type):
    """A host.down payload carrying the signature made for event_type."""
    data = payload()
    data['signature'] = signing.sign(event_type, data, KEY_C1)['signature']
    return data


MONITOR = 'nova-ha-monitor.c1'

# (name, event type, payload, publisher, required, expected reason or None)
CASES = [
    ('unsigned accepted when not required',
     'host.down', payload(), MONITOR, False, None),
    ('unsigned accepted when not required, even from elsewhere',
     'host.down', payload(), 'someone', False, None),
    ('unsigned refused when required',
     'host.down', payload(), MONITOR, True, 'unsigned event'),
    ('signed accepted when required',
     'host.down', signed(), MONITOR, True, None),
    ('signed accepted when not required',
     'host.down', signed(), MONITOR, False, None),
    ('signed vm.failure accepted',
     'vm.failure', signed('vm.failure', instance=UUID, cause='crashed',
                          detail='d\u00e9j\u00e0 vu \u2603'),
     MONITOR, True, None),
    ('tampered host refused',
     'host.down', tampered(host='c2'), 'nova-ha-monitor.c2', True,
     'bad signature'),
    ('tampered field refused',
     'host.down', tampered(id='r2'), MONITOR, True, 'bad signature'),
    ('added field refused',
     'host.down', tampered(detail='extra'), MONITOR, True, 'bad signature'),
    ('tampered refused even when not required',
     'host.down', tampered(id='r2'), MONITOR, False, 'bad signature'),
    ('wrong key refused',
     'host.down', signed(key=KEY_C2), MONITOR, True, 'bad signature'),
    ('wrong key refused when not required',
     'host.down', signed(key=KEY_C2), MONITOR, False, 'bad signature'),
    ('signature of another event type refused',
     'host.down', with_signature_of('host.up'), MONITOR, True,
     'bad signature'),
    ('signature re-used under another event type refused',
     'host.up', signed('host.down'), MONITOR, True, 'bad signature'),
    ('garbage signature refused',
     'host.down', tampered(signature='hmac-sha256:00'), MONITOR, True,
     'bad signature'),
    ('non-string signature refused',
     'host.down', tampered(signature=42), MONITOR, True, 'bad signature'),
    ('non-ascii signature refused',
     'host.down', tampered(signature='hmac-sha256:\u00e9'), MONITOR, True,
     'bad signature'),
    ('signature without its prefix refused',
     'host.down',
     tampered(signature=signed()['signature'][len('hmac-sha256:'):]),
     MONITOR, True, 'bad signature'),
    ('another host\'s publisher refused',
     'host.down', signed(), 'nova-ha-monitor.c2', True,
     'event about host c1 published by nova-ha-monitor.c2'),
    ('no publisher refused',
     'host.down', signed(), None, True,
     'event about host c1 published by None'),
    ('stale at refused',
     'host.down', signed(at=at(-301)), MONITOR, True,
     'stale event (at %s)' % at(-301)),
    ('at max_age ago accepted',
     'host.down', signed(at=at(-300)), MONITOR, True, None),
    ('future at refused',
     'host.down', signed(at=at(301)), MONITOR, True,
     'stale event (at %s)' % at(301)),
    ('slightly future at accepted',
     'host.down', signed(at=at(30)), MONITOR, True, None),
    ('naive at counts as UTC',
     'host.down', signed(at='2026-11-24T11:59:00'), MONITOR, True, None),
    ('Z at accepted',
     'host.down', signed(at='2026-11-24T11:59:00Z'), MONITOR, True, None),
    ('missing at refused when required',
     'host.down', signing.sign('host.down', {
         k: v for k, v in payload().items() if k != 'at'}, KEY_C1),
     MONITOR, True, 'stale event (at missing)'),
    ('unparseable at refused when required',
     'host.down', signed(at='yesterday'), MONITOR, True,
     'stale event (at yesterday)'),
    ('stale at accepted when not required',
     'host.down', signed(at=at(-3600)), MONITOR, False, None),
    ('missing key for host refused',
     'host.down', signed(host='c3'), 'nova-ha-monitor.c3', True,
     'no event key configured for host c3'),
    ('missing key for host tolerated when not required',
     'host.down', signed(host='c3'), 'nova-ha-monitor.c3', False, None),
    ('missing host refused when required',
     'host.down', signing.sign('host.down', {
         k: v for k, v in payload().items() if k != 'host'}, KEY_C1),
     MONITOR, True, 'no event key configured for host None'),
    ('non-dict payload refused when required',
     'host.down', ['host', 'c1'], MONITOR, True, 'unsigned event'),
    ('non-dict payload left to the parser when not required',
     'host.down', 'garbage', MONITOR, False, None),
]


class TestCheck(unittest.TestCase):

    def check(self, event_type, data, publisher, required, keys=KEYS,
              now=NOW):
        return signing.check(event_type, data, publisher, keys, required,
                             now, MAX_AGE)

    def test_cases(self):
        for name, event_type, data, publisher, required, expected in CASES:
            with self.subTest(name):
                self.assertEqual(expected, self.check(
                    event_type, data, publisher, required))

    def test_reason_never_contains_a_key(self):
        for name, event_type, data, publisher, required, _ in CASES:
            for keys in (KEYS, {'c1': KEY_C2, 'c2': KEY_C1}):
                reason = self.check(event_type, data, publisher, required,
                                    keys=keys)
                with self.subTest(name, keys=sorted(keys)):
                    for key in (KEY_C1, KEY_C2):
                        self.assertNotIn(key, reason or '')
                        self.assertNotIn(key[:16], reason or '')

    def test_bad_signature_never_tells_the_right_one(self):
        # A forger must not learn from the log what it should have sent.
        for name, event_type, data, publisher, required, _ in CASES:
            if not isinstance(data, dict) or \
                    not isinstance(data.get('host'), str):
                continue
            right = signing.sign(event_type, data, KEYS.get(
                data['host'], KEY_C1))['signature']
            reason = self.check(event_type, data, publisher, required)
            with self.subTest(name):
                self.assertNotIn(right[len('hmac-sha256:'):][:16],
                                 reason or '')

    def test_host_in_reason_is_short_and_one_line(self):
        reason = self.check('host.down', signed(host='evil\n' + 'x' * 500),
                            MONITOR, True)
        self.assertTrue(reason.startswith('no event key configured for '
                                          'host '))
        self.assertNotIn('\n', reason)
        self.assertLess(len(reason), 120)

    def test_bad_at_in_reason_is_short_and_one_line(self):
        reason = self.check('host.down', signed(at='now\n' + 'x' * 500),
                            MONITOR, True)
        self.assertTrue(reason.startswith('stale event (at '))
        self.assertNotIn('\n', reason)
        self.assertLess(len(reason), 120)

    def test_no_keys_at_all(self):
        self.assertIsNone(self.check('host.down', signed(), MONITOR, False,
                                     keys=None))
        self.assertEqual('no event key configured for host c1', self.check(
            'host.down', signed(), MONITOR, True, keys=None))

    def test_empty_key_counts_as_missing(self):
        self.assertEqual('no event key configured for host c1', self.check(
            'host.down', signed(), MONITOR, True, keys={'c1': ''}))

    def test_naive_now_counts_as_utc(self):
        self.assertIsNone(self.check('host.down', signed(), MONITOR, True,
                                     now=NOW.replace(tzinfo=None)))

    def test_max_age_is_the_given_one(self):
        data = signed(at=at(-100))
        self.assertIsNone(signing.check('host.down', data, MONITOR, KEYS,
                                        True, NOW, 101))
        self.assertEqual('stale event (at %s)' % at(-100), signing.check(
            'host.down', data, MONITOR, KEYS, True, NOW, 99))

    def test_unserializable_payload_is_refused_not_raised(self):
        data = signed()
        data['detail'] = object()
        self.assertEqual('bad signature',
                         self.check('host.down', data, MONITOR, True))


class TestSign(unittest.TestCase):

    def test_signature_is_the_documented_hmac(self):
        data = payload(detail='caf\u00e9')
        body = json.dumps(data, sort_keys=True, separators=(',', ':'),
                          ensure_ascii=False)
        expected = 'hmac-sha256:' + hmac.new(
            KEY_C1.encode('utf-8'), ('host.down\n' + body).encode('utf-8'),
            hashlib.sha256).hexdigest()
        self.assertEqual(expected,
                         signing.sign('host.down', data, KEY_C1)['signature'])

    def test_returns_a_copy(self):
        data = payload()
        result = signing.sign('host.down', data, KEY_C1)
        self.assertNotIn('signature', data)
        self.assertEqual(dict(data, signature=result['signature']), result)

    def test_field_order_does_not_matter(self):
        data = payload()
        reordered = dict(reversed(list(data.items())))
        self.assertEqual(signing.sign('host.down', data, KEY_C1),
                         signing.sign('host.down', reordered, KEY_C1))

    def test_resigning_ignores_an_old_signature(self):
        once = signing.sign('host.down', payload(), KEY_C1)
        self.assertEqual(once, signing.sign('host.down', dict(
            once, signature='hmac-sha256:forged'), KEY_C1))

    def test_bytes_key_is_the_same_key(self):
        self.assertEqual(signing.sign('host.down', payload(), KEY_C1),
                         signing.sign('host.down', payload(),
                                      KEY_C1.encode('utf-8')))

    def test_empty_key_is_refused(self):
        with self.assertRaises(ValueError):
            signing.sign('host.down', payload(), '')

    def test_signed_payload_still_parses(self):
        event = events.parse_monitor_event('host.down', signed(), NOW,
                                           MONITOR)
        self.assertIsInstance(event, events.Event)
        self.assertEqual('c1', event.host)

    def test_monitor_publisher_id(self):
        self.assertEqual(MONITOR, signing.monitor_publisher_id('c1'))
