"""The process checks and the restart command, on real processes and /proc.

The pid-file and command-line checks look at real child processes (alive,
killed, zombie, another program).  systemd cannot run in the test
environment, so the systemd check is exercised twice: against the real
systemctl, which cannot reach systemd here (exactly the "checker failed"
case, which must read unknown), and against small stand-in systemctl
scripts that print what systemd prints for each unit state.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from nova_ha.compute_hooks import process_checks as checks
from nova_ha.compute_hooks import process_decision as d

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


class ProcessTestCase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='nova-ha-checks-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.marker = 'nova-ha-test-%s' % uuid.uuid4().hex

    def sleeper(self):
        """A child whose command line carries this test's marker."""
        child = subprocess.Popen(
            [sys.executable, '-c', 'import time; time.sleep(600)',
             self.marker])
        self.addCleanup(self._end, child)
        # Between fork and exec the child still shows pytest's command
        # line: a check made then would rightly say "down".
        deadline = time.monotonic() + 10
        while self.marker not in (checks.read_cmdline(child.pid) or ''):
            self.assertLess(time.monotonic(), deadline, 'child never ran')
            time.sleep(0.01)
        return child

    @staticmethod
    def _end(child):
        if child.poll() is None:
            child.kill()
        child.wait()

    def pid_file(self, content):
        path = os.path.join(self.tmp, 'daemon.pid')
        with open(path, 'w') as f:
            f.write(content)
        return path


class TestPidFileCheck(ProcessTestCase):

    def test_running_process_of_the_right_program_is_up(self):
        child = self.sleeper()
        check = checks.PidFileCheck(self.pid_file('%d\n' % child.pid),
                                    self.marker)
        self.assertEqual(d.UP, check().state)

    def test_without_pattern_any_live_pid_is_up(self):
        child = self.sleeper()
        check = checks.PidFileCheck(self.pid_file(str(child.pid)))
        self.assertEqual(d.UP, check().state)

    def test_reused_pid_of_another_program_is_down(self):
        # Our own pid stands for a pid the kernel gave to something else.
        check = checks.PidFileCheck(self.pid_file(str(os.getpid())),
                                    self.marker)
        reading = check()
        self.assertEqual(d.DOWN, reading.state)
        self.assertIn('another program', reading.detail)

    def test_killed_but_not_reaped_is_down(self):
        child = self.sleeper()
        check = checks.PidFileCheck(self.pid_file(str(child.pid)))
        child.kill()
        self._wait_zombie(child.pid)
        reading = check()
        self.assertEqual(d.DOWN, reading.state)
        self.assertIn('zombie', reading.detail)

    def test_killed_and_reaped_is_down(self):
        child = self.sleeper()
        check = checks.PidFileCheck(self.pid_file(str(child.pid)),
                                    self.marker)
        child.kill()
        child.wait()
        self.assertEqual(d.DOWN, check().state)

    def test_missing_empty_or_partial_pid_file_is_down(self):
        self.assertEqual(d.DOWN, checks.PidFileCheck(
            os.path.join(self.tmp, 'absent.pid'))().state)
        for content in ('', '12a', '-5', '0'):
            reading = checks.PidFileCheck(self.pid_file(content))()
            self.assertEqual(d.DOWN, reading.state, content)
            self.assertIn('holds no pid', reading.detail)

    def test_unreadable_pid_file_is_unknown(self):
        reading = checks.PidFileCheck(self.tmp)()     # a directory
        self.assertEqual(d.UNKNOWN, reading.state)
        self.assertIn('cannot read pid file', reading.detail)

    def test_bad_pattern_is_refused(self):
        with self.assertRaisesRegex(ValueError, 'invalid command_pattern'):
            checks.PidFileCheck('/run/x.pid', '(unclosed')

    def _wait_zombie(self, pid):
        deadline = time.monotonic() + 5
        while checks.read_state(pid) != 'Z':
            self.assertLess(time.monotonic(), deadline, 'no zombie')
            time.sleep(0.01)


class TestCommandLineCheck(ProcessTestCase):

    def test_matching_process_is_up_and_gone_is_down(self):
        child = self.sleeper()
        check = checks.CommandLineCheck(r'time\.sleep\(600\) %s$'
                                        % self.marker)
        reading = check()
        self.assertEqual(d.UP, reading.state)
        self.assertIn('pid %d' % child.pid, reading.detail)
        child.kill()
        child.wait()
        self.assertEqual(d.DOWN, check().state)

    def test_the_monitor_never_finds_itself(self):
        # A process whose own command line matches the pattern (as a
        # monitor started with the pattern in its arguments would).
        code = ('import sys; from nova_ha.compute_hooks import '
                'process_checks as c; '
                'print(c.CommandLineCheck(sys.argv[1])().state)')
        out = subprocess.run([sys.executable, '-c', code, self.marker],
                             capture_output=True, text=True, cwd=ROOT,
                             check=True).stdout
        self.assertEqual(d.DOWN, out.strip())

    def test_pattern_is_required(self):
        with self.assertRaises(ValueError):
            checks.CommandLineCheck('')


class TestSystemdCheck(ProcessTestCase):

    def stand_in(self, body):
        """A systemctl stand-in script (systemd cannot run here)."""
        path = os.path.join(self.tmp, 'systemctl')
        with open(path, 'w') as f:
            f.write('#!/bin/sh\n' + body + '\n')
        os.chmod(path, 0o755)
        return path

    def shows(self, load, active, code=0):
        return self.stand_in('printf "LoadState=%s\\nActiveState=%s\\n"; '
                             'exit %d' % (load, active, code))

    def test_states(self):
        expected = {'active': d.UP, 'reloading': d.UP,
                    'inactive': d.DOWN, 'failed': d.DOWN,
                    'activating': d.UNKNOWN, 'deactivating': d.UNKNOWN}
        for active, state in expected.items():
            check = checks.SystemdCheck('nova-compute.service',
                                        systemctl=self.shows('loaded',
                                                             active))
            reading = check()
            self.assertEqual(state, reading.state, active)
            self.assertIn('nova-compute.service is %s' % active,
                          reading.detail)

    def test_unit_that_does_not_exist_is_never_down(self):
        # is-active would print "inactive" here: a misspelt unit name must
        # not restart anything nor disable the host.
        check = checks.SystemdCheck(
            'nova-compute.service',
            systemctl=self.shows('not-found', 'inactive'))
        reading = check()
        self.assertEqual(d.UNKNOWN, reading.state)
        self.assertIn('check systemd_unit', reading.detail)

    def test_systemctl_failure_is_unknown(self):
        check = checks.SystemdCheck('x.service', systemctl=self.stand_in(
            'echo "Failed to connect to bus" >&2; exit 1'))
        reading = check()
        self.assertEqual(d.UNKNOWN, reading.state)
        self.assertIn('Failed to connect to bus', reading.detail)

    def test_hanging_systemctl_is_unknown_after_timeout(self):
        check = checks.SystemdCheck('x.service', timeout=0.3,
                                    systemctl=self.stand_in('exec sleep 30'))
        started = time.monotonic()
        self.assertEqual(d.UNKNOWN, check().state)
        self.assertLess(time.monotonic() - started, 5)

    def test_missing_systemctl_is_unknown(self):
        check = checks.SystemdCheck('x.service', systemctl=os.path.join(
            self.tmp, 'absent'))
        self.assertEqual(d.UNKNOWN, check().state)

    def test_real_systemctl_without_systemd_is_unknown(self):
        if not shutil.which('systemctl'):
            self.skipTest('systemctl is not installed')
        if os.path.isdir('/run/systemd/system'):
            self.skipTest('systemd runs here: the unit state is real')
        self.assertEqual(d.UNKNOWN,
                         checks.SystemdCheck('nova-compute.service')().state)


class TestRestartCommand(ProcessTestCase):

    def test_exit_status_and_output(self):
        ok = checks.RestartCommand(['true'], timeout=5)()
        self.assertTrue(ok.ok)
        failed = checks.RestartCommand(
            ['sh', '-c', 'echo cannot start: no config >&2; exit 3'], 5)()
        self.assertFalse(failed.ok)
        self.assertIn('exited with 3: cannot start: no config', failed.detail)

    def test_command_left_running_is_killed_after_timeout(self):
        started = time.monotonic()
        result = checks.RestartCommand(['sleep', '30'], timeout=0.3)()
        self.assertFalse(result.ok)
        self.assertIn('killed', result.detail)
        self.assertLess(time.monotonic() - started, 5)

    def test_daemon_it_starts_does_not_hold_it_up(self):
        # The daemon inherits the command's stdout and outlives it.
        pid_file = os.path.join(self.tmp, 'bg.pid')
        command = checks.RestartCommand(
            ['sh', '-c', 'sleep 30 & echo $! > %s; echo started' % pid_file],
            timeout=10)
        started = time.monotonic()
        result = command()
        with open(pid_file) as f:
            os.kill(int(f.read()), signal.SIGKILL)
        self.assertTrue(result.ok, result.detail)
        self.assertLess(time.monotonic() - started, 5)

    def test_missing_program_is_a_failed_attempt(self):
        result = checks.RestartCommand([os.path.join(self.tmp, 'absent')],
                                       5)()
        self.assertFalse(result.ok)

    def test_repr_shows_the_program_only(self):
        command = checks.RestartCommand(
            ['/usr/local/bin/start-it', '--password', 's3cret'], 5)
        self.assertEqual('restart command start-it', repr(command))
        self.assertNotIn('s3cret', command()[1])
