"""The lab's processes: started detached, found again by their pid files.

``nova-ha-lab up`` exits and leaves the cloud running, so every process is
started in a session of its own (it outlives the command and can be
signalled as a group), logs to ``<lab>/log/<name>.log`` and is known by
``<lab>/run/<name>.pid``.  A process meant to run inside a host's network
namespace is started through ``ip netns exec``, which enters the namespace
and then executes the command itself (same pid).
"""

import errno
import os
import re
import signal
import subprocess
import sys
import time

VENV_BIN = os.path.dirname(sys.executable)


def executable(name):
    """A console script of this Python environment (nova-compute, ...)."""
    path = os.path.join(VENV_BIN, name)
    if not os.path.exists(path):
        raise FileNotFoundError(
            '%s is not installed beside %s (run tools/lab.sh setup)' % (
                name, sys.executable))
    return path


def alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError as exc:
        return exc.errno == errno.EPERM
    # A zombie (our own child not yet reaped) is not alive.
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def stopped(pid):
    """True when the process is SIGSTOPped (state T)."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            return stat.read().rsplit(')', 1)[1].split()[0] in ('T', 't')
    except OSError:
        return False


class Processes:
    """Start, find and stop the lab's named processes."""

    def __init__(self, layout):
        self.layout = layout

    def _pid_file(self, name):
        return os.path.join(self.layout.run, name + '.pid')

    def log_file(self, name):
        return os.path.join(self.layout.logs, name + '.log')

    def start(self, name, argv, env=None, netns=None, cwd=None):
        """Start ``argv`` as ``name`` unless it already runs; its pid."""
        current = self.pid(name)
        if current:
            return current
        os.makedirs(self.layout.run, exist_ok=True)
        os.makedirs(self.layout.logs, exist_ok=True)
        if netns:
            argv = ['ip', 'netns', 'exec', netns] + list(argv)
        full_env = dict(os.environ)
        full_env.update(env or {})
        with open(self.log_file(name), 'ab') as log:
            log.write(('--- %s start: %s\n' % (
                time.strftime('%Y-%m-%d %H:%M:%S'),
                ' '.join(argv))).encode())
            log.flush()
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env=full_env,
                cwd=cwd or self.layout.base, start_new_session=True,
                close_fds=True)
        with open(self._pid_file(name), 'w') as pid_file:
            pid_file.write('%d\n' % proc.pid)
        return proc.pid

    def pid(self, name):
        """The pid of ``name`` if it is alive, else None."""
        try:
            with open(self._pid_file(name)) as pid_file:
                pid = int(pid_file.read().strip() or 0)
        except (OSError, ValueError):
            return None
        return pid if alive(pid) else None

    def names(self):
        try:
            files = os.listdir(self.layout.run)
        except FileNotFoundError:
            return []
        return sorted(f[:-4] for f in files if f.endswith('.pid'))

    def signal(self, name, signum):
        """Send ``signum`` to the process group of ``name``; True if sent."""
        pid = self.pid(name)
        if not pid:
            return False
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:
            return False
        except PermissionError:
            os.kill(pid, signum)
        return True

    def stop(self, name, timeout=15.0):
        """SIGTERM, then SIGKILL after ``timeout``; removes the pid file."""
        pid = self.pid(name)
        if pid:
            # A stopped process cannot act on SIGTERM.
            self.signal(name, signal.SIGCONT)
            self.signal(name, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if alive(pid):
                self.signal(name, signal.SIGKILL)
                deadline = time.monotonic() + 5
                while alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        try:
            os.unlink(self._pid_file(name))
        except FileNotFoundError:
            pass

    def wait_for_log(self, name, pattern, timeout, since=0):
        """Wait until the log of ``name`` has a line matching ``pattern``
        after byte offset ``since``; the match, or raises TimeoutError
        (with the log's tail) if the process died or time ran out."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        path = self.log_file(name)
        while True:
            try:
                with open(path, 'rb') as log:
                    log.seek(since)
                    text = log.read().decode('utf-8', 'replace')
            except FileNotFoundError:
                text = ''
            found = regex.search(text)
            if found:
                return found
            if time.monotonic() > deadline or (
                    name in self.names() and not self.pid(name)):
                raise TimeoutError(
                    '%s: no %r in its log after %.0f s%s:\n%s' % (
                        name, pattern, timeout,
                        '' if self.pid(name) else ' (it exited)',
                        text[-3000:]))
            time.sleep(0.2)

    def log_size(self, name):
        try:
            return os.path.getsize(self.log_file(name))
        except FileNotFoundError:
            return 0


def run(argv, timeout=300, check=True, env=None, input=None):
    """Run a set-up command to its end, bounded; its stdout.  A failure
    raises with the command's output."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(argv, capture_output=True, text=True,
                          timeout=timeout, env=full_env, input=input)
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed (%d):\n%s%s' % (
            ' '.join(argv), proc.returncode, proc.stdout[-3000:],
            proc.stderr[-3000:]))
    return proc.stdout
