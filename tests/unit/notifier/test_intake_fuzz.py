"""Thousands of malformed and random messages through the engine's intake.

Real parts: the intake, its validation, the SQL history (SQLite file).
What passes validation is handed to the engine as a report (host reports
and monitors' reports of VM and process failures), recorded here; nothing
else may reach it, and the intake must survive every message.
"""

import os
import random
import threading
import string
import tempfile
import unittest

from nova_ha.history import store
from nova_ha.notifier import events
from nova_ha.notifier import intake as ha_intake


class TestIntakeFuzz(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix='nova-ha-fuzz-')
        self.history = store.HistoryStore(
            'sqlite:///' + os.path.join(tmp, 'h.sqlite'))
        self.history.upgrade()
        self.host_reports = []
        self.events = []
        self._reports_lock = threading.Lock()
        # The parser behind the signature check: unsigned messages reach
        # it (the check itself: tests/unit/notifier/test_signing*.py).
        self.engine = ha_intake.Intake(
            ha_intake.Recorder(self.history),
            ha_intake.IntakeSettings(signing_required=False),
            host_reports=self.host_report,
            events=lambda *report: self.events.append(report))
        self.addCleanup(self.history.close)

    def host_report(self, host, kind):
        with self._reports_lock:
            self.host_reports.append((host, kind))

    def test_intake_survives_and_records_every_rejection(self):
        rnd = random.Random(20261124)
        junk = [None, 1, 2.5, [], {}, '', 'x' * 3000, {'nested': {'a': []}},
                '\x00\xff', 'password=hunter2']

        def value():
            if rnd.random() < 0.4:
                return rnd.choice(junk)
            return ''.join(rnd.choice(string.printable)
                           for _ in range(rnd.randint(0, 30)))

        sent = rejected = 0
        for i in range(2000):
            event_type = rnd.choice(list(events.MONITOR_EVENT_TYPES) +
                                    [value(), 'host.down'])
            payload = {k: value() for k in rnd.sample(
                ['schema', 'host', 'id', 'at', 'instance', 'cause',
                 'process', 'detail'], rnd.randint(0, 8))}
            if rnd.random() < 0.5:
                payload['schema'] = events.SCHEMA
            if rnd.random() < 0.1:
                payload = value()
            result = self.engine.submit_monitor_message(event_type, payload,
                                                        'fuzz')
            sent += 1
            rejected += isinstance(result, events.Rejection)
        records = self.history.query(kind='event.rejected')
        self.assertEqual(rejected, len(records))
        self.assertGreater(rejected, sent // 2)
        # Every report taken went to the engine, and nothing else did.
        taken = [(r.host, r.detail['type'][len('host.'):])
                 for r in self.history.query(kind='event.received')
                 if r.detail['type'] in (events.HOST_DOWN, events.HOST_UP)]
        self.assertTrue(taken)
        self.assertEqual(sorted(taken), sorted(self.host_reports))
        others = [(r.host, r.detail['type'])
                  for r in self.history.query(kind='event.received')
                  if r.detail['type'] in (events.VM_FAILURE,
                                          events.PROCESS_DOWN,
                                          events.PROCESS_UP)]
        self.assertEqual(len(others), len(self.events))
        # Nothing secret leaked into the history from the junk.
        for r in self.history.query():
            self.assertNotIn('hunter2', r.message + repr(r.detail))
        # The intake still works: a valid host report and a valid process
        # report are taken and handed on.
        del self.host_reports[:]
        del self.events[:]
        self.engine.submit_monitor_message(
            events.HOST_DOWN, events.monitor_payload(events.HOST_DOWN, 'c9'))
        self.engine.submit_monitor_message(
            events.PROCESS_DOWN, events.monitor_payload(
                events.PROCESS_DOWN, 'c8', process='nova-compute'))
        self.assertTrue(self.history.query(kind='event.received', host='c9'))
        self.assertEqual([('c9', 'down')], self.host_reports)
        (report,) = self.events
        self.assertEqual(('process_down', 'c8', 'nova-compute'),
                         report[:3])
