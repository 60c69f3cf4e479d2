"""The drain's progress on stderr: a bar on a terminal, lines in a log."""

import io
import unittest

from nova_ha.maintenance import drain
from nova_ha.maintenance import plan
from nova_ha.maintenance import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def item(name):
    return plan.DrainItem(id=name, name=name, ha=True, priority=0,
                          status='ACTIVE', action=plan.LIVE)


class TestProgress(unittest.TestCase):

    def drive(self, stream):
        bar = progress.ProgressBar(stream)
        a, b = item('web'), item('db')
        bar.begin('c1', [a, b])
        bar.moving(a)
        bar.done(drain.DrainResult(a, drain.MOVED, 'c2', seconds=3.2))
        bar.moving(b)
        bar.done(drain.DrainResult(b, drain.FAILED,
                                   detail='No valid host was found.'))
        bar.end()
        return stream.getvalue()

    def test_log_gets_one_line_per_vm(self):
        self.assertEqual(
            'drain c1 1/2 web: moved to c2 (3 s)\n'
            'drain c1 2/2 db: failed: No valid host was found.\n',
            self.drive(io.StringIO()))

    def test_terminal_gets_a_bar_redrawn_in_place(self):
        text = self.drive(Terminal())
        frames = text.split('\r')
        self.assertEqual('drain c1 [------------------------] 0/2',
                         frames[1])
        self.assertEqual('drain c1 [------------------------] 0/2 | '
                         'moving: web', frames[2])
        # Each result stays on its own line above the bar.
        self.assertIn('\rweb: moved to c2 (3 s)', text)
        self.assertIn('\rdb: failed: No valid host was found.', text)
        last = [f for f in frames if f.startswith('drain')][-1]
        self.assertIn('[########################] 2/2 1 failed, 1 moved',
                      last)
        self.assertTrue(text.endswith('\n'))

    def test_bar(self):
        self.assertEqual('[#####-----]', progress.bar(1, 2, width=10))
        self.assertEqual('[##########]', progress.bar(0, 0, width=10))
