"""``nova-ha report availability`` and ``report timeline`` after a real
recovery: the engine (nova_ha.engine, run by nova_ha_testbed.engine)
fences a dead host of the in-process cloud and evacuates its HA VMs,
writing the history the reports then read (the incident's state and
facts, and its records).  Only the BMCs are simulated (see the harness).
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import contextlib
import csv
import datetime
import io
import json
import os

# numpy (under matplotlib, for --png) calls os.uname() on first import,
# which Nova's test fixtures forbid inside a test: import it beforehand.
import numpy  # noqa: F401

from nova_ha.cmd import cli
from nova_ha.notifier import events

from nova_ha_testbed import engine as engine_harness

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
# The engine's open states (nova_ha.engine.states), as timeline rows.
STATES = ('detected', 'confirming', 'held', 'fencing', 'fenced',
          'evacuating', 'parked')


class ReportsAfterRecoveryTest(cloud.HACloudTestCase):

    def setUp(self):
        super().setUp()
        self.small = self._create_flavor(name='small', memory_mb=512, vcpu=1,
                                         disk=1, ephemeral=0)
        self.ha = engine_harness.EngineHarness(
            self, engine_harness.fast_settings())
        self.addCleanup(self.ha.stop)
        self.config = os.path.join(self.ha.tmp, 'nova-ha.conf')
        with open(self.config, 'w') as f:
            f.write('[history]\nconnection = sqlite:///%s\n' % os.path.join(
                self.ha.tmp, 'history.sqlite'))

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(['--config-file', self.config] + list(args),
                          connection=self.sdk_connection())
        return rc, out.getvalue(), err.getvalue()

    def test_availability_and_timeline_of_a_host_recovery(self):
        web = self.boot_server('web', priority=9, host='a1',
                               flavor_id=self.small)
        db = self.boot_server('db', priority=5, host='a1',
                              flavor_id=self.small)
        self.boot_server('plain', ha=False, host='a1', flavor_id=self.small)
        self.boot_server('quiet', host='a2', flavor_id=self.small)

        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()
        self.assertEqual('a-spare', self.host_of(web))
        (incident,) = self.ha.history.list_incidents(kind='host_failure')
        self.assertEqual('recovered', incident.state)

        # Per VM: the two HA VMs of a1, back, with their downtime.
        rc, out, err = self.run_cli('report', 'availability', '--since',
                                    '1h', '-f', 'json')
        self.assertEqual(0, rc, err)
        vms = {r['Name']: r for r in json.loads(out)}
        self.assertEqual({'web', 'db'}, set(vms))
        self.assertEqual({'seg-a'}, {r['Segment'] for r in vms.values()})
        self.assertEqual({0}, {r['Unresolved'] for r in vms.values()})

        # The timeline: every state of the incident and every action of
        # the engine, timed (the engine writes records, no steps).
        png = os.path.join(self.ha.tmp, 'timeline.png')
        rc, out, err = self.run_cli('report', 'timeline', incident.key,
                                    '--png', png, '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = json.loads(out)
        names = [r['Step'] for r in rows]
        steps = {r['Step']: r for r in rows}
        moves = {'evacuate:' + web['id'], 'evacuate:' + db['id']}
        # The states it went through, each from its transition record.
        states = [n for n in names if n in STATES]
        self.assertEqual(['detected', 'confirming', 'fencing', 'fenced',
                          'evacuating'], states, names)
        self.assertEqual('detection', names[0])
        self.assertEqual('total', names[-1])
        # Each action once, in the order it began: the fence, the
        # force-down, the two moves (their requests go out together),
        # disabling the host once the moves ended.
        actions = [n for n in names if n not in STATES + ('detection',
                                                          'total')]
        self.assertEqual(['fence', 'force_down'], actions[:2], names)
        self.assertEqual(moves, set(actions[2:4]), names)
        self.assertEqual(['disable'], actions[4:], names)
        self.assertEqual({'web', 'db'}, {steps[m]['VM'] for m in moves})
        self.assertIn('fenced simulated', steps['fence']['Detail'])
        # Detection: from the failure to the decision to fence.
        self.assertEqual(steps['fencing']['At s'],
                         steps['detection']['Seconds'])
        disabled = _time(steps['disable']['End'])
        for move in moves:
            self.assertLessEqual(_time(steps[move]['End']), disabled)
        self.assertEqual({'done'}, {r['Status'] for r in rows[:-1]})
        self.assertEqual('recovered', steps['total']['Status'])
        with open(png, 'rb') as f:
            self.assertEqual(PNG_MAGIC, f.read(8))

        # Both reports tell one story: a VM is back when its evacuation
        # row ends (both read its "done" record), and nothing is down
        # longer than the whole recovery.
        total = steps['total']['Seconds']
        for server in (web, db):
            move = steps['evacuate:' + server['id']]
            downtime = vms[server['name']]['Downtime s']
            self.assertAlmostEqual(move['At s'] + move['Seconds'], downtime,
                                   delta=0.01)
            self.assertLessEqual(downtime, total)

        # Per segment: averaged over the HA VMs Nova lists in seg-a now
        # (web, db and quiet), of which two were affected.
        rc, out, err = self.run_cli('report', 'availability', '--since',
                                    '1h', '--by', 'segment', '-f', 'csv')
        self.assertEqual(0, rc, err)
        rows = {r['Segment']: r for r in csv.DictReader(io.StringIO(out))}
        self.assertEqual(('3', '2', '1', 'HA VMs in Nova now'),
                         (rows['seg-a']['VMs'], rows['seg-a']['Affected'],
                          rows['seg-a']['Incidents'], rows['seg-a']['Basis']))
        self.assertEqual(('0', '100.0'), (rows['seg-b']['VMs'],
                                          rows['seg-b']['Availability %']))


def _time(text):
    return datetime.datetime.fromisoformat(text)
