"""Checks that tell whether a process runs, and the command that restarts it.

Each check returns a ``Reading(state, detail)`` with state up, down or
unknown (process_decision).  The rule for all of them: "down" only when
the check positively saw the process absent; whenever the check itself
could not look (systemctl unreachable or slow, a file or /proc entry it may
not read) the reading is "unknown", which never leads to a restart or a
report.

- ``SystemdCheck``: the unit's ActiveState from ``systemctl show``;
- ``PidFileCheck``: the pid in a pid file is alive, not a zombie, and
  (optionally) its command line matches a pattern, so a reused pid is not
  taken for the process;
- ``CommandLineCheck``: some process's command line matches a pattern
  (like ``pgrep -f``), read from /proc.
"""

import collections
import os
import re
import subprocess
import tempfile

from oslo_log import log as logging

from nova_ha.compute_hooks import process_decision as decision

LOG = logging.getLogger(__name__)

Reading = collections.namedtuple('Reading', 'state detail')

PROC = '/proc'

# A unit's ActiveState.  The transitional states
# (activating, deactivating, ...) are unknown, not down: a Type=notify
# service may be "activating" for minutes while it waits for its peers,
# and restarting it then would only start it over.
SYSTEMD_UP = frozenset(('active', 'reloading', 'refreshing'))
SYSTEMD_DOWN = frozenset(('inactive', 'failed'))

_OUTPUT_LIMIT = 300


def _tail(text):
    text = ' '.join((text or '').split())
    return text if len(text) <= _OUTPUT_LIMIT else \
        '...' + text[-_OUTPUT_LIMIT:]


# -- /proc ------------------------------------------------------------------

def read_cmdline(pid):
    """The command line of ``pid`` as pgrep -f sees it ('' for a zombie or
    a kernel thread); raises OSError when it cannot be read."""
    with open(os.path.join(PROC, str(pid), 'cmdline'), 'rb') as f:
        raw = f.read()
    return raw.rstrip(b'\0').replace(b'\0', b' ').decode('utf-8', 'replace')


def read_state(pid):
    """The one-letter state of ``pid`` (R, S, Z, ...) from /proc/PID/stat."""
    with open(os.path.join(PROC, str(pid), 'stat'), 'rb') as f:
        stat = f.read().decode('ascii', 'replace')
    # The command name is in parentheses and may itself hold ')'.
    return stat[stat.rindex(')') + 2:].split(' ', 1)[0]


def pid_reading(pid, pattern):
    """Is ``pid`` alive, not a zombie and (with a pattern) the right
    program?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return Reading(decision.DOWN, 'pid %d is not running' % pid)
    except PermissionError:
        pass    # it exists; we may not signal it
    try:
        if read_state(pid) in ('Z', 'X'):
            return Reading(decision.DOWN, 'pid %d has exited (zombie)' % pid)
        if pattern is None:
            return Reading(decision.UP, 'pid %d is running' % pid)
        cmdline = read_cmdline(pid)
    except FileNotFoundError:
        return Reading(decision.DOWN, 'pid %d has just exited' % pid)
    except (OSError, ValueError) as exc:
        return Reading(decision.UNKNOWN, 'cannot read /proc of pid %d: %s'
                       % (pid, exc))
    if pattern.search(cmdline):
        return Reading(decision.UP, 'pid %d is running' % pid)
    if not cmdline:
        return Reading(decision.DOWN, 'pid %d has exited' % pid)
    return Reading(decision.DOWN, 'pid %d is another program (%s), not one '
                   'matching %r' % (pid, _tail(cmdline)[:80],
                                    pattern.pattern))


def compile_pattern(pattern):
    """``pattern`` compiled, None when empty; ValueError with the reason."""
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError('invalid command_pattern %r: %s' % (pattern, exc))


# -- checks -----------------------------------------------------------------

class SystemdCheck:
    """``systemctl show`` of the unit: its load state and active state.

    Not ``is-active``: that prints "inactive" for a unit that does not
    exist, and a misspelt unit name would then read as a dead process.
    """

    def __init__(self, unit, timeout=10.0, systemctl='systemctl'):
        self.unit = unit
        self.timeout = timeout
        self._systemctl = systemctl

    def __repr__(self):
        return 'systemd unit %s' % self.unit

    def __call__(self):
        try:
            result = subprocess.run(
                [self._systemctl, 'show', '--property=LoadState',
                 '--property=ActiveState', self.unit],
                stdin=subprocess.DEVNULL, capture_output=True,
                timeout=self.timeout, env=dict(os.environ, LC_ALL='C'))
        except subprocess.TimeoutExpired:
            return Reading(decision.UNKNOWN, 'systemctl show %s took more '
                           'than %.1fs' % (self.unit, self.timeout))
        except OSError as exc:
            return Reading(decision.UNKNOWN, 'cannot run %s: %s' % (
                self._systemctl, exc))
        shown = dict(line.partition('=')[::2] for line in result.stdout.decode(
            'utf-8', 'replace').splitlines() if '=' in line)
        load, state = shown.get('LoadState', ''), shown.get('ActiveState', '')
        if result.returncode != 0 or not load or not state:
            # systemd could not tell us (no bus, no permission).
            return Reading(decision.UNKNOWN, 'systemctl show %s: exit %d, %s'
                           % (self.unit, result.returncode, _tail(
                               result.stderr.decode('utf-8', 'replace')) or
                              'no state'))
        if load != 'loaded':
            return Reading(decision.UNKNOWN, 'unit %s is %s: check '
                           'systemd_unit' % (self.unit, load))
        if state in SYSTEMD_UP:
            return Reading(decision.UP, '%s is %s' % (self.unit, state))
        if state in SYSTEMD_DOWN:
            return Reading(decision.DOWN, '%s is %s' % (self.unit, state))
        return Reading(decision.UNKNOWN, '%s is %s' % (self.unit, state))


class PidFileCheck:

    def __init__(self, pid_file, pattern=None):
        self.pid_file = pid_file
        self.pattern = compile_pattern(pattern)

    def __repr__(self):
        return 'pid file %s' % self.pid_file

    def __call__(self):
        try:
            with open(self.pid_file, 'rb') as f:
                text = f.read(64).decode('ascii', 'replace').strip()
        except FileNotFoundError:
            return Reading(decision.DOWN, 'no pid file %s' % self.pid_file)
        except OSError as exc:
            return Reading(decision.UNKNOWN, 'cannot read pid file %s: %s'
                           % (self.pid_file, exc))
        # Empty or partial while a restart rewrites it: a down reading,
        # which the confirmation of the next checks absorbs.
        if not text.isdigit() or int(text) <= 0:
            return Reading(decision.DOWN, 'pid file %s holds no pid (%r)'
                           % (self.pid_file, text[:20]))
        return pid_reading(int(text), self.pattern)


class CommandLineCheck:

    def __init__(self, pattern):
        self.pattern = compile_pattern(pattern)
        if self.pattern is None:
            raise ValueError('a command-line check needs a command_pattern')

    def __repr__(self):
        return 'command line matching %r' % self.pattern.pattern

    def __call__(self):
        try:
            pids = [int(name) for name in os.listdir(PROC) if name.isdigit()]
        except OSError as exc:
            return Reading(decision.UNKNOWN, 'cannot list %s: %s' % (PROC,
                                                                     exc))
        own = os.getpid()
        for pid in pids:
            if pid == own:
                continue
            try:
                cmdline = read_cmdline(pid)
            except OSError:
                continue   # exited meanwhile, or hidden from us
            if cmdline and self.pattern.search(cmdline):
                return Reading(decision.UP, 'pid %d matches %r' % (
                    pid, self.pattern.pattern))
        return Reading(decision.DOWN, 'no process matches %r' %
                       self.pattern.pattern)


# -- restart ----------------------------------------------------------------

RestartResult = collections.namedtuple('RestartResult', 'ok detail')


class RestartCommand:
    """Runs the restart command; never raises."""

    def __init__(self, argv, timeout):
        if not argv:
            raise ValueError('empty restart command')
        self.argv = list(argv)
        self.timeout = timeout

    def __repr__(self):
        # Only the program: arguments may hold things not meant for logs.
        return 'restart command %s' % os.path.basename(self.argv[0])

    def __call__(self):
        # Output goes to a file, not a pipe: a daemon the command leaves
        # running inherits the descriptor, and a pipe would then never
        # reach its end.
        with tempfile.TemporaryFile() as output_file:
            try:
                # Its own session: a timeout kills the command only, never
                # what it started.
                child = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=output_file,
                    stderr=subprocess.STDOUT, start_new_session=True)
            except OSError as exc:
                return RestartResult(False, 'cannot run %r: %s' % (self,
                                                                    exc))
            try:
                child.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
                return RestartResult(False, '%r still running after %.0fs: '
                                     'killed' % (self, self.timeout))
            output_file.seek(0)
            output = _tail(output_file.read(4096).decode('utf-8',
                                                         'replace'))
        if child.returncode != 0:
            return RestartResult(False, '%r exited with %d%s' % (
                self, child.returncode, (': ' + output) if output else ''))
        return RestartResult(True, '%r exited with 0' % (self,))
