"""``nova-ha incident ...`` and ``nova-ha host confirm-down`` end to end:
the cliff application on a real SQLite history.

The commands are found through the installed ``nova_ha.cli`` entry points
(setup.cfg), as the console script finds them.
"""

import contextlib
import io
import json
import os
import tempfile
import unittest
from unittest import mock

from nova_ha.cmd import cli
from nova_ha.history import migration
from nova_ha.history import store as history_store

HOST_KEY = 'host_failure:c1:2025-05-01T10:00:00+00:00'


class IncidentCLITestBase(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.db = os.path.join(tmp.name, 'history.sqlite')
        self.config = os.path.join(tmp.name, 'nova-ha.conf')
        with open(self.config, 'w') as f:
            f.write('[history]\nconnection = sqlite:///%s\n' % self.db)
        self.store = history_store.HistoryStore('sqlite:///' + self.db)
        self.addCleanup(self.store.close)
        self.store.upgrade()
        environ = mock.patch.dict(os.environ)
        environ.start()
        self.addCleanup(environ.stop)
        os.environ.pop('OS_USERNAME', None)

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(['--config-file', self.config] + list(args))
            except SystemExit as exc:  # argparse's usage errors
                rc = exc.code
        return rc, out.getvalue(), err.getvalue()

    def run_json(self, *args):
        rc, out, err = self.run_cli(*args, '-f', 'json')
        self.assertEqual(0, rc, err)
        return json.loads(out)

    def host_failure(self, host='c1', key=HOST_KEY, owner='engine-a',
                     generation=2):
        self.store.open_incident(key, 'host_failure', host=host,
                                 owner=owner, generation=generation,
                                 detail={'reported_by': 'monitor'})
        self.store.update_incident(key, state='fence_failed')
        return key


class TestIncidentList(IncidentCLITestBase):

    def fill(self):
        self.host_failure()
        self.store.open_incident('process_failure:c2', 'process_failure',
                                 host='c2')
        self.store.open_incident('host_failure:c3', 'host_failure',
                                 host='c3')
        self.store.update_incident('host_failure:c3', state='done')

    def test_lists_open_incidents_with_owner_and_generation(self):
        self.fill()
        rows = self.run_json('incident', 'list')
        self.assertEqual([HOST_KEY, 'process_failure:c2'],
                         [row['Key'] for row in rows])
        first = rows[0]
        self.assertEqual(
            {'Key': HOST_KEY, 'Kind': 'host_failure', 'Host': 'c1',
             'State': 'fence_failed', 'Owner': 'engine-a',
             'Generation': 2, 'Closed': None},
            {name: value for name, value in first.items()
             if name != 'Opened'})
        self.assertTrue(first['Opened'].endswith('+00:00'))
        self.assertEqual((None, 0), (rows[1]['Owner'],
                                     rows[1]['Generation']))

    def test_all_and_host(self):
        self.fill()
        rows = self.run_json('incident', 'list', '--all')
        self.assertEqual([HOST_KEY, 'process_failure:c2', 'host_failure:c3'],
                         [row['Key'] for row in rows])
        self.assertIsNotNone(rows[2]['Closed'])
        self.assertEqual(['host_failure:c3'], [
            row['Key'] for row in self.run_json('incident', 'list', '--all',
                                                '--host', 'c3')])
        self.assertEqual([], self.run_json('incident', 'list', '--host',
                                           'c3'))

    def test_table_for_people(self):
        self.fill()
        rc, out, err = self.run_cli('incident', 'list')
        self.assertEqual(0, rc, err)
        self.assertIn('| Owner ', out)
        self.assertIn('| Generation ', out)
        self.assertIn('engine-a', out)
        self.assertNotIn('host_failure:c3', out)
        self.assertNotIn('None', out)

    def test_database_without_schema_says_so(self):
        self.store.close()
        os.remove(self.db)
        rc, out, err = self.run_cli('incident', 'list')
        self.assertEqual(1, rc)
        self.assertIn('no history schema yet', err)

    def test_database_of_an_older_engine_says_so(self):
        self.store.close()
        os.remove(self.db)
        with self.store._engine.begin() as connection:
            migration.upgrade(connection, '0001')
        rc, out, err = self.run_cli('incident', 'list')
        self.assertEqual(1, rc)
        self.assertIn('has schema revision 0001, these commands need %s'
                      % migration.head_revision(), err)


class TestIncidentShow(IncidentCLITestBase):

    def test_every_field_and_the_records_in_order(self):
        key = self.host_failure()
        self.store.mark_step(key, 'fence', 'failed')
        self.store.record('fence', 'ipmi timed out', host='c1',
                          outcome='failed', incident=key, token=2)
        self.store.record('alert', 'another incident', host='c1',
                          incident='other')
        self.store.operator_request(key, 'retry', who='alice',
                                    reason='BMC cable replaced')
        shown = self.run_json('incident', 'show', key)
        self.assertEqual(
            (key, 'host_failure', 'c1', None, 'fence_failed', 'engine-a', 2,
             None),
            (shown['Key'], shown['Kind'], shown['Host'], shown['Instance'],
             shown['State'], shown['Owner'], shown['Generation'],
             shown['Closed']))
        self.assertEqual({'reported_by': 'monitor'}, shown['Detail'])
        self.assertEqual(['retry'], list(shown['Operator']))
        self.assertEqual({'who': 'alice', 'reason': 'BMC cable replaced'},
                         {name: value for name, value
                          in shown['Operator']['retry'].items()
                          if name != 'at'})
        self.assertEqual({'fence': 'failed'}, shown['Steps'])
        self.assertEqual(
            [('fence', 'failed', 'ipmi timed out'),
             ('operator.retry', 'requested',
              'operator alice asked to retry: BMC cable replaced')],
            [(r['kind'], r['outcome'], r['message'])
             for r in shown['Records']])
        self.assertLess(shown['Records'][0]['at'], shown['Records'][1]['at'])

    def test_table_has_one_line_per_record(self):
        key = self.host_failure()
        self.store.record('fence', 'ipmi timed out', incident=key)
        self.store.record('decision', 'waiting for the operator',
                          incident=key)
        rc, out, err = self.run_cli('incident', 'show', key)
        self.assertEqual(0, rc, err)
        lines = [line for line in out.splitlines() if 'ipmi timed out' in line
                 or 'waiting for the operator' in line]
        self.assertEqual(2, len(lines))
        self.assertIn('fence ipmi timed out', lines[0])
        self.assertIn('decision waiting for the operator', lines[1])
        self.assertNotIn('None', out)

    def test_unknown_key(self):
        rc, out, err = self.run_cli('incident', 'show', 'nope')
        self.assertEqual(1, rc)
        self.assertIn("no incident with key 'nope'", err)
        self.assertEqual('', out)


class TestIncidentRetry(IncidentCLITestBase):

    def test_retry_records_the_request(self):
        key = self.host_failure()
        rc, out, err = self.run_cli('incident', 'retry', key, '--reason',
                                    'BMC cable replaced', '--user', 'alice')
        self.assertEqual(0, rc, err)
        self.assertIn('re-runs every guard against today\'s state', out)
        self.assertIn('engine-a (generation 2)', out)
        incident = self.store.get_incident(key)
        self.assertEqual(('alice', 'BMC cable replaced'),
                         (incident.operator['retry']['who'],
                          incident.operator['retry']['reason']))
        self.assertEqual('fence_failed', incident.state)
        (record,) = self.store.query(kind='operator.retry')
        self.assertEqual('operator alice asked to retry: BMC cable replaced',
                         record.message)

    def test_who_defaults_to_os_username_then_the_login_name(self):
        key = self.host_failure()
        os.environ['OS_USERNAME'] = 'bob'
        self.assertEqual(0, self.run_cli('incident', 'retry', key,
                                         '--reason', 'r')[0])
        self.assertEqual('bob', self.store.get_incident(
            key).operator['retry']['who'])
        del os.environ['OS_USERNAME']
        with mock.patch('getpass.getuser', return_value='carol'):
            self.assertEqual(0, self.run_cli('incident', 'retry', key,
                                             '--reason', 'r')[0])
        self.assertEqual('carol', self.store.get_incident(
            key).operator['retry']['who'])

    def test_missing_or_empty_reason_is_a_usage_error(self):
        key = self.host_failure()
        rc, out, err = self.run_cli('incident', 'retry', key)
        self.assertEqual(2, rc)
        self.assertIn('--reason', err)
        rc, out, err = self.run_cli('incident', 'retry', key,
                                    '--reason', '  ')
        self.assertEqual(2, rc)
        self.assertIn('must not be empty', err)
        rc, out, err = self.run_cli('incident', 'retry', key,
                                    '--reason', 'x' * 1025)
        self.assertEqual(2, rc)
        self.assertIn('at most 1024', err)
        self.assertIsNone(self.store.get_incident(key).operator)

    def test_unknown_key(self):
        rc, out, err = self.run_cli('incident', 'retry', 'nope',
                                    '--reason', 'r')
        self.assertEqual(1, rc)
        self.assertIn("no incident with key 'nope'", err)
        self.assertEqual([], self.store.query())

    def test_closed_incident_is_refused(self):
        key = self.host_failure()
        self.store.update_incident(key, state='done')
        rc, out, err = self.run_cli('incident', 'retry', key,
                                    '--reason', 'r')
        self.assertEqual(1, rc)
        self.assertIn('is closed (state done', err)
        self.assertEqual('', out)
        self.assertIsNone(self.store.get_incident(key).operator)


class TestIncidentClose(IncidentCLITestBase):

    def test_close(self):
        key = self.host_failure()
        rc, out, err = self.run_cli('incident', 'close', key, '--reason',
                                    'VMs rebuilt by hand', '--user', 'alice')
        self.assertEqual(0, rc, err)
        self.assertIn('closed by alice', out)
        self.assertIn('engine-a (generation 2), stops working on it', out)
        incident = self.store.get_incident(key)
        self.assertEqual('closed', incident.state)
        self.assertFalse(incident.is_open)
        self.assertEqual('VMs rebuilt by hand',
                         incident.operator['close']['reason'])
        self.assertEqual([], self.run_json('incident', 'list'))
        self.assertEqual(['closed'], [row['State'] for row in self.run_json(
            'incident', 'list', '--all')])

    def test_closing_twice_is_refused(self):
        key = self.host_failure()
        self.assertEqual(0, self.run_cli('incident', 'close', key,
                                         '--reason', 'r')[0])
        rc, out, err = self.run_cli('incident', 'close', key, '--reason',
                                    'again')
        self.assertEqual(1, rc)
        self.assertIn('is closed (state closed', err)
        self.assertEqual(1, len(self.store.query(kind='operator.close')))

    def test_unknown_key_and_missing_reason(self):
        rc, out, err = self.run_cli('incident', 'close', 'nope',
                                    '--reason', 'r')
        self.assertEqual(1, rc)
        self.assertIn("no incident with key 'nope'", err)
        key = self.host_failure()
        rc, out, err = self.run_cli('incident', 'close', key)
        self.assertEqual(2, rc)
        self.assertIn('--reason', err)
        self.assertTrue(self.store.get_incident(key).is_open)


class TestHostConfirmDown(IncidentCLITestBase):

    def test_confirms_the_hosts_only_open_host_failure(self):
        key = self.host_failure()
        # Neither another kind nor a closed host failure is a candidate.
        self.store.open_incident('process_failure:c1', 'process_failure',
                                 host='c1')
        self.store.open_incident('host_failure:c1:old', 'host_failure',
                                 host='c1')
        self.store.update_incident('host_failure:c1:old', state='done')
        self.host_failure(host='c2', key='host_failure:c2')
        rc, out, err = self.run_cli('host', 'confirm-down', 'c1', '--reason',
                                    'pulled both power cords',
                                    '--user', 'alice')
        self.assertEqual(0, rc, err)
        self.assertIn('c1 confirmed powered off by alice, for incident %s '
                      'only' % key, out)
        self.assertIn('fence proof', out)
        self.assertEqual({'confirm_down'}, set(
            self.store.get_incident(key).operator))
        for other in ('process_failure:c1', 'host_failure:c1:old',
                      'host_failure:c2'):
            self.assertIsNone(self.store.get_incident(other).operator)
        (record,) = self.store.query(kind='operator.confirm_down')
        self.assertEqual(
            (key, 'c1',
             'operator alice confirmed c1 is powered off: pulled both power '
             'cords'),
            (record.incident, record.host, record.message))

    def test_no_open_incident_is_refused(self):
        self.store.open_incident('host_failure:c1:old', 'host_failure',
                                 host='c1')
        self.store.update_incident('host_failure:c1:old', state='done')
        rc, out, err = self.run_cli('host', 'confirm-down', 'c1',
                                    '--reason', 'r')
        self.assertEqual(1, rc)
        self.assertIn('host c1 has no open host_failure incident', err)
        self.assertEqual([], self.store.query())

    def test_several_open_incidents_need_incident(self):
        self.host_failure(key='host_failure:c1:a')
        self.host_failure(key='host_failure:c1:b')
        rc, out, err = self.run_cli('host', 'confirm-down', 'c1',
                                    '--reason', 'r')
        self.assertEqual(1, rc)
        self.assertIn('2 open host_failure incidents (host_failure:c1:a, '
                      'host_failure:c1:b)', err)
        self.assertIn('--incident', err)
        self.assertEqual([], self.store.query())

        rc, out, err = self.run_cli('host', 'confirm-down', 'c1', '--reason',
                                    'r', '--incident', 'host_failure:c1:b')
        self.assertEqual(0, rc, err)
        self.assertIsNone(self.store.get_incident(
            'host_failure:c1:a').operator)
        self.assertIn('confirm_down', self.store.get_incident(
            'host_failure:c1:b').operator)

    def test_incident_of_another_host_or_unknown_or_closed(self):
        self.host_failure(host='c2', key='host_failure:c2')
        rc, out, err = self.run_cli('host', 'confirm-down', 'c1', '--reason',
                                    'r', '--incident', 'host_failure:c2')
        self.assertEqual(1, rc)
        self.assertIn('incident host_failure:c2 is about host c2, not c1',
                      err)
        rc, out, err = self.run_cli('host', 'confirm-down', 'c1', '--reason',
                                    'r', '--incident', 'nope')
        self.assertEqual(1, rc)
        self.assertIn("no incident with key 'nope'", err)
        self.store.update_incident('host_failure:c2', state='failed')
        rc, out, err = self.run_cli('host', 'confirm-down', 'c2', '--reason',
                                    'r', '--incident', 'host_failure:c2')
        self.assertEqual(1, rc)
        self.assertIn('is closed (state failed', err)
        self.assertEqual([], self.store.query())

    def test_missing_reason(self):
        key = self.host_failure()
        rc, out, err = self.run_cli('host', 'confirm-down', 'c1')
        self.assertEqual(2, rc)
        self.assertIn('--reason', err)
        self.assertIsNone(self.store.get_incident(key).operator)
