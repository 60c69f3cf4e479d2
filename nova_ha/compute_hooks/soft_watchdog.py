"""The software watchdog: a process that kills the guests when not fed.

For hosts with neither a watchdog device nor the softdog module.  It is a
process of its own (its own session, so it outlives a crashed monitor and
a restarted one feeds it again), reading a FIFO: any byte is a feed, "V"
disarms it (a clean stop of the monitor).  ``timeout`` seconds without a
feed and it fires: every process whose command line contains one of the
kill patterns is SIGKILLed (QEMU guests, nova-compute), then the fire
command runs; unfed, it fires again every ``timeout``.

It cannot help a host whose kernel or processes freeze (it freezes with
them): engines believe it only when told to ([watchdog_rung] kinds).

    python -m nova_ha.compute_hooks.soft_watchdog --fifo PATH --timeout S
        [--kill PATTERN ...] [--then COMMAND]
"""

import argparse
import os
import select
import shlex
import signal
import subprocess
import sys
import time

MAGIC_CLOSE = b'V'


def _netns(pid):
    try:
        return os.readlink('/proc/%s/ns/net' % pid)
    except OSError:
        return None


def matching_pids(patterns, exclude=()):
    """Processes of this host whose command line matches: those that share
    our network namespace (all of a real host's; only its own for a lab
    host, whose namespace is the host)."""
    found = []
    mine = _netns('self')
    for entry in os.listdir('/proc'):
        if not entry.isdigit() or int(entry) in exclude or \
                _netns(entry) != mine:
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                cmdline = f.read().replace(b'\0', b' ').decode(
                    errors='replace')
        except OSError:
            continue
        if any(p and p in cmdline for p in patterns):
            found.append(int(entry))
    return found


def fire(patterns, then, say):
    killed = []
    for pid in matching_pids(patterns, exclude=(os.getpid(),)):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except OSError:
            pass
    say('fired: SIGKILLed %s' % (', '.join(map(str, killed)) or 'nothing'))
    if then:
        try:
            subprocess.run(shlex.split(then), timeout=30, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            say('fire command failed: %s' % e)


def run(fifo, timeout, patterns, then, say=print):
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    # Read and write: the pipe never reads as closed between feeders.
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    deadline = time.monotonic() + timeout
    say('armed: %.1f s, kills %s' % (timeout, ', '.join(patterns)))
    while True:
        ready, _, _ = select.select([fd], [], [],
                                    max(0.0, deadline - time.monotonic()))
        if ready:
            data = os.read(fd, 256)
            if data.endswith(MAGIC_CLOSE):
                say('disarmed')
                return 0
            deadline = time.monotonic() + timeout
            continue
        fire(patterns, then, say)
        deadline = time.monotonic() + timeout


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--fifo', required=True)
    parser.add_argument('--timeout', type=float, required=True)
    parser.add_argument('--kill', action='append', default=[])
    parser.add_argument('--then')
    args = parser.parse_args(argv)

    def say(text):
        print('nova-ha soft watchdog %d: %s' % (os.getpid(), text),
              flush=True)
    return run(args.fifo, args.timeout, args.kill, args.then, say)


if __name__ == '__main__':
    sys.exit(main())
