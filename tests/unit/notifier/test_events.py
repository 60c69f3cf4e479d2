import datetime
import random
import string
import unittest

from nova_ha.notifier import events

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc)
UUID = '2f1c2a83-5d51-4b57-9e69-5f1d1a0c6a11'


def payload(**fields):
    base = {'schema': events.SCHEMA, 'host': 'c1'}
    base.update(fields)
    return base


class TestMonitorEvents(unittest.TestCase):

    def parse(self, event_type, data):
        return events.parse_monitor_event(event_type, data, NOW, 'mon.c1')

    def test_host_down(self):
        e = self.parse('host.down', payload(id='r1', at='2026-11-24T11:59:58Z',
                                            source='servicegroup'))
        self.assertEqual(('host.down', 'c1', 'r1', 'servicegroup'),
                         (e.type, e.host, e.id, e.source))
        self.assertEqual(NOW - datetime.timedelta(seconds=2), e.at)

    def test_vm_failure_needs_instance_and_known_cause(self):
        e = self.parse('vm.failure', payload(instance=UUID.upper(),
                                             cause='watchdog'))
        self.assertEqual((UUID, 'watchdog'), (e.instance, e.cause))
        r = self.parse('vm.failure', payload(cause='crashed'))
        self.assertIsInstance(r, events.Rejection)
        self.assertIn("missing 'instance'", r.reason)
        r = self.parse('vm.failure', payload(instance=UUID, cause='meh'))
        self.assertIn("cause 'meh' is not one of", r.reason)

    def test_process_events_name_a_known_process(self):
        self.assertEqual('nova-compute', self.parse(
            'process.down', payload(process='nova-compute')).process)
        r = self.parse('process.up', payload(process='sshd'))
        self.assertIn("process 'sshd' is not one of", r.reason)

    def test_rejections_say_why(self):
        cases = {
            ('host.down', 'x'): 'payload must be a JSON object',
            ('host.down', (('schema', 'v0'),)): 'schema must be',
            ('host.explode', ()): 'unknown event type',
            ('host.down', (('host', ''),)): "'host' must be a non-empty",
            ('host.down', (('at', 'yesterday'),)): "'at' is not an ISO",
        }
        for (event_type, fields), reason in cases.items():
            data = fields if isinstance(fields, str) else payload(
                **dict(fields))
            r = self.parse(event_type, data)
            self.assertIsInstance(r, events.Rejection, (event_type, fields))
            self.assertIn(reason, r.reason)
            self.assertEqual('mon.c1', r.publisher)

    def test_fuzz_never_raises_and_never_accepts_garbage(self):
        rnd = random.Random(1234)
        junk = [None, 0, -1, 3.5, '', 'x' * 5000, [], {}, [1, 2], {'a': 1},
                True, UUID, '2026-13-45T99:99:99']

        def value():
            if rnd.random() < 0.5:
                return rnd.choice(junk)
            return ''.join(rnd.choice(string.printable)
                           for _ in range(rnd.randint(0, 40)))

        keys = ['schema', 'host', 'id', 'at', 'source', 'instance', 'cause',
                'process', 'detail', 'extra']
        accepted = 0
        for _ in range(5000):
            event_type = rnd.choice(list(events.MONITOR_EVENT_TYPES) +
                                    [value()])
            data = {k: value() for k in rnd.sample(keys, rnd.randint(0, 9))}
            if rnd.random() < 0.7:
                data['schema'] = events.SCHEMA
            if rnd.random() < 0.2:
                data = value()
            result = events.parse_monitor_event(event_type, data, NOW)
            if isinstance(result, events.Event):
                accepted += 1
                self.assertIn(result.type, events.MONITOR_EVENT_TYPES)
                self.assertTrue(result.host)
            else:
                self.assertIsInstance(result, events.Rejection)
                self.assertTrue(result.reason)
        self.assertLess(accepted, 500)


class TestNovaNotifications(unittest.TestCase):

    def power_off(self, **data):
        body = {'uuid': UUID, 'host': 'c1', 'request_id': None,
                'action_initiator_user': None}
        body.update(data)
        return events.parse_nova_notification(
            'instance.power_off.end', {'nova_object.data': body}, NOW)

    def test_power_sync_stop_is_a_vm_failure(self):
        e = self.power_off()
        self.assertEqual((events.VM_FAILURE, 'nova_power_sync', UUID),
                         (e.type, e.cause, e.instance))

    def test_user_stop_is_remembered_not_restarted(self):
        e = self.power_off(request_id='req-1', action_initiator_user='alice')
        self.assertEqual(events.USER_STOP, e.type)

    def test_other_notifications_are_ignored(self):
        self.assertIsNone(events.parse_nova_notification(
            'instance.update', {}, NOW))

    def test_malformed_nova_payload_is_rejected(self):
        r = events.parse_nova_notification('instance.power_off.end',
                                           ['junk'], NOW)
        self.assertIsInstance(r, events.Rejection)


class TestRebuildNotifications(unittest.TestCase):

    def rebuild(self, phase='end', publisher='nova-compute:spare-1',
                **data):
        body = {'uuid': UUID, 'host': 'failed-1', 'state': 'active'}
        body.update(data)
        return events.parse_nova_notification(
            'instance.rebuild.' + phase, {'nova_object.data': body}, NOW,
            publisher)

    def test_the_rebuilding_host_is_the_publisher_not_the_payload(self):
        # Nova sets the instance's host after the rebuild ends.
        e = self.rebuild()
        self.assertEqual((events.REBUILD_END, 'spare-1', UUID, 'active'),
                         (e.type, e.host, e.instance, e.state))

    def test_each_phase_has_its_event(self):
        self.assertEqual(
            [events.REBUILD_START, events.REBUILD_END, events.REBUILD_ERROR],
            [self.rebuild(phase).type for phase in ('start', 'end',
                                                    'error')])

    def test_publisher_that_is_not_a_compute_host_is_rejected(self):
        for publisher in (None, 'nova-api:api-1', 'nova-compute:', 42):
            r = self.rebuild(publisher=publisher)
            self.assertIsInstance(r, events.Rejection)
            self.assertIn('publisher', r.reason)

    def test_rebuild_without_a_valid_uuid_is_rejected(self):
        r = self.rebuild(uuid='not-a-uuid')
        self.assertIsInstance(r, events.Rejection)
        self.assertIn('uuid', r.reason)
