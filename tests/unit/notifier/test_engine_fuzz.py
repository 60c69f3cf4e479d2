"""Thousands of malformed and random messages through the engine's intake.

Real parts: the engine, its validation, the SQL history (SQLite file), tooz
locks (file driver).  Nova is an unreachable stand-in (every call raises, as
when nova-api is down), so any VM or process report that passes validation
ends in a flow that fails and must be recorded as an alert, not crash the
engine.  Host reports go to the host-failure engine, recorded here.
"""

import os
import random
import threading
import string
import tempfile
import unittest

from nova_ha.history import store
from nova_ha.notifier import engine as ha_engine
from nova_ha.notifier import environment
from nova_ha.notifier import events
from nova_ha.notifier import flow_settings


class UnreachableNova:
    def __getattr__(self, name):
        def call(*args, **kwargs):
            raise ConnectionError('nova-api unreachable')
        return call


class TestEngineFuzz(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix='nova-ha-fuzz-')
        self.history = store.HistoryStore(
            'sqlite:///' + os.path.join(tmp, 'h.sqlite'))
        self.history.upgrade()
        self.locks = environment.ToozLocks('file://' + os.path.join(tmp, 'l'))
        env = environment.Environment(UnreachableNova(), self.history,
                                      self.locks, sleep=lambda s: None)
        self.host_reports = []
        self._reports_lock = threading.Lock()
        # The parser behind the signature check: unsigned messages reach
        # it (the check itself: tests/unit/notifier/test_signing*.py).
        self.engine = ha_engine.Engine(env, ha_engine.EngineSettings(
            flow=flow_settings.FlowSettings(poll_interval=0.01),
            nova_down_wait=0.05, signing_required=False),
            host_reports=self.host_report)
        self.addCleanup(self.locks.stop)
        self.addCleanup(self.history.close)
        self.addCleanup(self.engine.stop)

    def host_report(self, host, kind):
        with self._reports_lock:
            self.host_reports.append((host, kind))

    def test_engine_survives_and_records_every_rejection(self):
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
        self.engine.wait_idle()
        records = self.history.query(kind='event.rejected')
        self.assertEqual(rejected, len(records))
        self.assertGreater(rejected, sent // 2)
        # Every host report taken went to the host-failure engine, and
        # nothing else did.
        taken = [(r.host, r.detail['type'][len('host.'):])
                 for r in self.history.query(kind='event.received')
                 if r.detail['type'] in (events.HOST_DOWN, events.HOST_UP)]
        self.assertTrue(taken)
        self.assertEqual(sorted(taken), sorted(self.host_reports))
        # Nothing secret leaked into the history from the junk.
        for r in self.history.query():
            self.assertNotIn('hunter2', r.message + repr(r.detail))
        # The engine still works: a valid host report is taken and handed
        # on; a valid process report is taken and its (failing, Nova is
        # down) flow is recorded as an alert.
        del self.host_reports[:]
        self.engine.submit_monitor_message(
            events.HOST_DOWN, events.monitor_payload(events.HOST_DOWN, 'c9'))
        self.engine.submit_monitor_message(
            events.PROCESS_DOWN, events.monitor_payload(
                events.PROCESS_DOWN, 'c8', process='nova-compute'))
        self.engine.wait_idle()
        self.assertTrue(self.history.query(kind='event.received', host='c9'))
        self.assertEqual([('c9', 'down')], self.host_reports)
        self.assertTrue(any('nova-api unreachable' in r.message
                            for r in self.history.query(kind='alert')))
