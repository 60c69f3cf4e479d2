"""``nova-ha report availability`` and ``report timeline`` end to end on a
real SQLite history written through HistoryStore: as the earlier recovery
flow wrote it (records carry hand-set times; steps carry the store's own
clock), and as the engine writes it (its own writer, see engine_history).

Nova is not asked (--history-only); tests/functional/reports runs both
commands against the in-process cloud after a real recovery.
"""

import contextlib
import csv
import datetime
import io
import json
import os
import tempfile
import unittest

from nova_ha.cmd import cli
from nova_ha.history import store as history_store
from tests.unit.reports import engine_history

UTC = datetime.timezone.utc
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


class ReportCLITest(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        db = os.path.join(tmp.name, 'history.sqlite')
        self.config = os.path.join(tmp.name, 'nova-ha.conf')
        with open(self.config, 'w') as f:
            f.write('[history]\nconnection = sqlite:///%s\n' % db)
        self.store = history_store.HistoryStore('sqlite:///' + db)
        self.addCleanup(self.store.close)
        self.store.upgrade()
        # The failure was reported two hours ago.
        self.t0 = datetime.datetime.now(UTC).replace(microsecond=0) - \
            datetime.timedelta(hours=2)
        self.key = self.fill()

    def at(self, seconds):
        return self.t0 + datetime.timedelta(seconds=seconds)

    def fill(self):
        """A host failure of c1 (web back after 30 s, db after 60 s, a
        stopped VM ignored) and a crash of vm3 on c2 restarted in 10 s."""
        s = self.store
        s.record('decision', 'recovering c1 in segment seg-a', host='c1',
                 segment='seg-a', outcome='proceed', at=self.at(1))
        key = 'host_failure:c1:%s' % self.t0.isoformat()
        s.open_incident(key, 'host_failure', host='c1',
                        detail={'reported_by': 'servicegroup',
                                'at': self.t0.isoformat()})
        s.mark_step(key, 'fence', 'done', {'outcome': 'fenced'})
        s.mark_step(key, 'plan', 'done', {'vms': [
            {'id': 'u-web', 'name': 'web', 'priority': 9,
             'status': 'ACTIVE'},
            {'id': 'u-db', 'name': 'db', 'priority': 5, 'status': 'ACTIVE'},
            {'id': 'u-off', 'name': 'off', 'priority': 0,
             'status': 'SHUTOFF'}]})
        for vm, seconds in (('u-web', 30), ('u-db', 60), ('u-off', 61)):
            s.mark_step(key, 'evacuate:' + vm, 'done', {'target': 'spare'})
            s.record('evacuate', 'moved', host='c1', instance=vm,
                     outcome='done', incident=key, at=self.at(seconds))
        s.update_incident(key, state='done', detail={'moved': 3,
                                                     'failed': []})
        s.record('event.received', 'vm.failure on c2 (crashed)', host='c2',
                 instance='vm3', at=self.at(101), detail={
                     'type': 'vm.failure', 'host': 'c2', 'cause': 'crashed',
                     'instance': 'vm3', 'at': self.at(100).isoformat()})
        s.record('restart', 'vm3 restarted', host='c2', instance='vm3',
                 outcome='restarted', at=self.at(110))
        return key

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(['--config-file', self.config] + list(args))
            except SystemExit as exc:
                rc = exc.code
        return rc, out.getvalue(), err.getvalue()

    def period(self):
        # One day: 86,400 s, starting an hour before the failure.
        return ['--since', self.at(-3600).isoformat(),
                '--until', self.at(86400 - 3600).isoformat()]


class TestReportAvailability(ReportCLITest):

    def test_per_vm_json(self):
        rc, out, err = self.run_cli('report', 'availability',
                                    '--history-only', *self.period(),
                                    '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = {r['VM']: r for r in json.loads(out)}
        self.assertEqual({'u-web', 'u-db', 'vm3'}, set(rows))
        db = rows['u-db']
        self.assertEqual(('db', 'seg-a', 1, 0, 60.0),
                         (db['Name'], db['Segment'], db['Outages'],
                          db['Unresolved'], db['Downtime s']))
        # 1 - 60 / 86400 = 0.99930555...
        self.assertEqual(99.930556, db['Availability %'])
        self.assertEqual(30.0, rows['u-web']['Downtime s'])
        self.assertEqual(10.0, rows['vm3']['Downtime s'])
        self.assertIsNone(rows['vm3']['Segment'])
        self.assertEqual([self.key], [i['incident']
                                      for i in db['Incidents']])

    def test_per_segment_csv(self):
        rc, out, err = self.run_cli('report', 'availability',
                                    '--history-only', *self.period(),
                                    '--by', 'segment', '-f', 'csv')
        self.assertEqual(0, rc, err)
        rows = {r['Segment']: r for r in csv.DictReader(io.StringIO(out))}
        seg_a = rows['seg-a']
        # 90 VM-s over the 2 affected VMs x 86400 s: 1 - 90/172800.
        self.assertEqual(('2', '2', '1', '90.0', '45.0', '99.947917'),
                         (seg_a['VMs'], seg_a['Affected'],
                          seg_a['Incidents'], seg_a['Downtime s'],
                          seg_a['Mean recovery s'], seg_a['Availability %']))
        self.assertEqual('affected VMs (history only)', seg_a['Basis'])
        self.assertEqual('10.0', rows['(unknown)']['Downtime s'])

    def test_a_period_before_the_failure_is_clean(self):
        rc, out, err = self.run_cli(
            'report', 'availability', '--history-only',
            '--since', self.at(-7200).isoformat(),
            '--until', self.at(-3600).isoformat(), '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertEqual([], json.loads(out))


class TestReportTimeline(ReportCLITest):

    def test_csv_by_unique_prefix_and_png(self):
        png = os.path.join(self.tmp, 'timeline.png')
        rc, out, err = self.run_cli('report', 'timeline', 'host_failure:c1',
                                    '--png', png, '-f', 'csv')
        self.assertEqual(0, rc, err)
        rows = list(csv.DictReader(io.StringIO(out)))
        self.assertEqual(['detection', 'fence', 'plan', 'evacuate:u-web',
                          'evacuate:u-db', 'evacuate:u-off', 'total'],
                         [r['Step'] for r in rows])
        self.assertEqual('web', rows[3]['VM'])
        self.assertEqual('done', rows[-1]['Status'])
        with open(png, 'rb') as f:
            self.assertEqual(PNG_MAGIC, f.read(8))

    def test_json_has_times(self):
        rc, out, err = self.run_cli('report', 'timeline', self.key,
                                    '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = json.loads(out)
        self.assertEqual(self.t0.isoformat(), rows[0]['Start'])
        self.assertEqual(0.0, rows[0]['At s'])
        self.assertIsNone(rows[-1]['VM'])

    def test_unknown_incident_is_a_clear_error(self):
        rc, _out, err = self.run_cli('report', 'timeline', 'nope')
        self.assertEqual(1, rc)
        self.assertIn("no incident 'nope'", err)


class EngineReportCLITest(ReportCLITest):
    """A host failure the engine recovered: c1 seen dead two hours ago,
    web back after 30 s, db after 60 s, a stopped VM moved too, and a VM
    whose evacuation failed."""

    def fill(self):
        h = engine_history.EngineHistory(self, self.store, self.t0)
        key = h.until_evacuating('c1', [('u-web', 'web', 'ACTIVE'),
                                        ('u-db', 'db', 'ACTIVE'),
                                        ('u-off', 'off', 'SHUTOFF'),
                                        ('u-bad', 'bad', 'ACTIVE')])
        for vm in ('u-web', 'u-db', 'u-off', 'u-bad'):
            h.requested(7, vm)
        h.moved(30, 'u-web')
        h.failed(45, 'u-bad')
        h.moved(60, 'u-db')
        h.moved(61, 'u-off', status='SHUTOFF')
        h.close(63, disabled_at=62)
        return key

    def test_availability_per_vm(self):
        rc, out, err = self.run_cli('report', 'availability',
                                    '--history-only', *self.period(),
                                    '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = {r['VM']: r for r in json.loads(out)}
        self.assertEqual({'u-web', 'u-db', 'u-bad'}, set(rows))
        self.assertEqual(('db', 'seg-a', 1, 0, 60.0), (
            rows['u-db']['Name'], rows['u-db']['Segment'],
            rows['u-db']['Outages'], rows['u-db']['Unresolved'],
            rows['u-db']['Downtime s']))
        self.assertEqual(30.0, rows['u-web']['Downtime s'])
        # Not back: down from the failure to the end of the period.
        self.assertEqual((1, 86400.0 - 3600.0), (
            rows['u-bad']['Unresolved'], rows['u-bad']['Downtime s']))
        self.assertEqual([{'incident': self.key, 'cause': 'host_failure',
                           'host': 'c1', 'start': self.t0.isoformat(),
                           'end': self.at(60).isoformat(),
                           'outcome': 'recovered'}],
                         rows['u-db']['Incidents'])

    def test_availability_per_segment(self):
        rc, out, err = self.run_cli('report', 'availability',
                                    '--history-only', *self.period(),
                                    '--by', 'segment', '-f', 'csv')
        self.assertEqual(0, rc, err)
        (seg_a,) = list(csv.DictReader(io.StringIO(out)))
        self.assertEqual(('seg-a', '3', '3', '1', '45.0'), (
            seg_a['Segment'], seg_a['VMs'], seg_a['Affected'],
            seg_a['Incidents'], seg_a['Mean recovery s']))

    def test_timeline(self):
        png = os.path.join(self.tmp, 'timeline.png')
        rc, out, err = self.run_cli('report', 'timeline', 'host_failure:c1',
                                    '--png', png, '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = json.loads(out)
        self.assertEqual(
            ['detection', 'detected', 'confirming', 'fencing', 'fence',
             'fenced', 'force_down', 'evacuating', 'evacuate:u-web',
             'evacuate:u-db', 'evacuate:u-off', 'evacuate:u-bad', 'disable',
             'total'], [r['Step'] for r in rows])
        by_step = {r['Step']: r for r in rows}
        self.assertEqual(('db', 'done', 7.0, 53.0), (
            by_step['evacuate:u-db']['VM'], by_step['evacuate:u-db']['Status'],
            by_step['evacuate:u-db']['At s'],
            by_step['evacuate:u-db']['Seconds']))
        self.assertEqual(('bad', 'failed', 'error: no valid host'), (
            by_step['evacuate:u-bad']['VM'],
            by_step['evacuate:u-bad']['Status'],
            by_step['evacuate:u-bad']['Detail']))
        self.assertEqual((self.t0.isoformat(), self.at(63).isoformat(),
                          63.0, 'partial'), (
            by_step['total']['Start'], by_step['total']['End'],
            by_step['total']['Seconds'], by_step['total']['Status']))
        with open(png, 'rb') as f:
            self.assertEqual(PNG_MAGIC, f.read(8))
