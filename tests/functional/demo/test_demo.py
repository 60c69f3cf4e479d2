"""The README's first command: the demo tells the story it promises."""

import json
import os
import subprocess
import sys
import unittest


class TestDemo(unittest.TestCase):

    def test_demo_json(self):
        demo = os.path.join(os.path.dirname(sys.executable), 'nova-ha-demo')
        done = subprocess.run([demo, '--json'], capture_output=True,
                              text=True, timeout=600)
        self.assertEqual(0, done.returncode, done.stderr[-3000:])
        report = json.loads(done.stdout)
        # Reserved hosts stayed empty and refused a pinned boot.
        self.assertEqual([0, 0], [h['vms'] for h in report['reserved_hosts']])
        self.assertIn('No valid host', report['pinned_boot']['fault'])
        # The killed host's HA VMs run on its segment's reserved host; the
        # non-HA ones stayed where they were.
        failure = report['failure']
        spares = {h['segment']: h['host'] for h in report['reserved_hosts']}
        victim_segment = next(s['segment'] for s in report['servers']
                              if s['host'] == failure['host'])
        for server in failure['servers']:
            if server['ha']:
                self.assertEqual(spares[victim_segment], server['host'])
                self.assertEqual('ACTIVE', server['status'])
            else:
                self.assertEqual(failure['host'], server['host'])
        kinds = [r['kind'] for r in report['history']]
        for kind in ('event.received', 'fence', 'service', 'evacuate'):
            self.assertIn(kind, kinds)
