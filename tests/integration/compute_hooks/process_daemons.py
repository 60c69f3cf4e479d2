"""A stand-in init script for the process monitor tests (run by path).

    python process_daemons.py start PID_FILE MARKER LOG
        start a daemon (python sleeping, MARKER in its command line) in its
        own session, write its pid to PID_FILE, exit 0
    python process_daemons.py fail LOG       exit 1, start nothing
    python process_daemons.py nothing LOG    exit 0, start nothing

Every call appends ``<monotonic time> <mode> <daemon pid or 0>`` to LOG, so
that a test counts the restart attempts, their spacing, and knows every pid
it must end.  Run by path, not as a module: importing the tests package
would load Nova's test framework for each restart.
"""

import os
import signal
import subprocess
import sys
import time


def start(pid_file, marker):
    daemon = subprocess.Popen(
        [sys.executable, '-c', 'import time; time.sleep(600)', marker],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    partial = pid_file + '.new'
    with open(partial, 'w') as f:
        f.write('%d\n' % daemon.pid)
    os.rename(partial, pid_file)
    return daemon.pid


def main(argv):
    mode, log = argv[0], argv[-1]
    pid = start(argv[1], argv[2]) if mode == 'start' else 0
    with open(log, 'a') as f:
        f.write('%r %s %d\n' % (time.monotonic(), mode, pid))
    return 1 if mode == 'fail' else 0


def attempts(log):
    """[(monotonic time, mode, pid)] of the calls recorded in LOG."""
    try:
        with open(log) as f:
            rows = [line.split() for line in f if line.strip()]
    except FileNotFoundError:
        return []
    return [(float(t), mode, int(pid)) for t, mode, pid in rows]


def end_all(log):
    """SIGKILL every daemon LOG says was started (by pid, and only
    those)."""
    for _, _, pid in attempts(log):
        if pid:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
