"""The engine's intake with signed monitor events required: a refused
event is recorded and never reaches the engine.

Real parts: the engine's intake and validation, the SQL history (SQLite).
Nova is not needed: nothing here gets that far.
"""

import datetime
import os
import tempfile
import unittest

from nova_ha.history import store
from nova_ha.notifier import events
from nova_ha.notifier import intake as ha_intake
from nova_ha.notifier import signing

KEY = 'k' * 32


class TestSignedIntake(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix='nova-ha-signing-')
        self.history = store.HistoryStore(
            'sqlite:///' + os.path.join(tmp, 'h.sqlite'))
        self.history.upgrade()
        self.addCleanup(self.history.close)
        self.reports = []
        self.engine = ha_intake.Intake(
            ha_intake.Recorder(self.history), ha_intake.IntakeSettings(
                event_keys=(('c1', KEY),), signing_required=True),
            host_reports=lambda host, kind: self.reports.append(
                (host, kind)), events=lambda *report: self.reports.append(
                    report))

    def _payload(self, host='c1', key=KEY):
        payload = events.monitor_payload(
            events.HOST_DOWN, host, at=datetime.datetime.now(
                datetime.timezone.utc).isoformat())
        return signing.sign(events.HOST_DOWN, payload, key) if key \
            else payload

    def test_signed_event_reaches_the_engine(self):
        self.engine.submit_monitor_message(
            events.HOST_DOWN, self._payload(), 'nova-ha-monitor.c1')
        self.assertEqual([('c1', 'down')], self.reports)

    def test_refused_events_are_recorded_and_go_nowhere(self):
        cases = [
            (self._payload(key=None), 'nova-ha-monitor.c1', 'unsigned'),
            (self._payload(key='x' * 32), 'nova-ha-monitor.c1',
             'bad signature'),
            (self._payload(), 'nova-ha-monitor.c2', 'published by'),
            (self._payload(host='c9', key=KEY), 'nova-ha-monitor.c9',
             'no event key'),
        ]
        for payload, publisher, reason in cases:
            result = self.engine.submit_monitor_message(
                events.HOST_DOWN, payload, publisher)
            self.assertIsInstance(result, events.Rejection)
            self.assertIn(reason, result.reason)
        self.assertEqual([], self.reports)
        rejected = self.history.query(kind='event.rejected')
        self.assertEqual(len(cases), len(rejected))
        for record in rejected:
            self.assertNotIn(KEY, record.message + repr(record.detail))
