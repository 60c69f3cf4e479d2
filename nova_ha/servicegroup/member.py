"""A stand-alone heartbeating member: ``python -m nova_ha.servicegroup.member``.

Joins GROUP as HOST and heartbeats until killed, with the same Heartbeater
Nova services use.  Used by the integration tests and the benchmark (a
process to SIGKILL or SIGSTOP) and handy to check a backend by hand.
Prints ``ready`` once the first heartbeat succeeded.
"""

import argparse
import sys
import threading
import time

from nova_ha.servicegroup import backend
from nova_ha.servicegroup import heartbeat


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('url', help='tooz URL (password is never printed)')
    parser.add_argument('group')
    parser.add_argument('host')
    parser.add_argument('--heartbeat-interval', type=float, default=0.5)
    parser.add_argument('--down-time', type=float, default=2.0)
    args = parser.parse_args(argv)
    url = backend.timed_url(args.url, args.down_time, args.heartbeat_interval)
    beater = heartbeat.Heartbeater(url, args.group, args.host,
                                   args.heartbeat_interval, args.down_time)
    stop = threading.Event()
    announced = False
    next_beat = time.monotonic()
    while not stop.is_set():
        if beater.beat() and not announced:
            print('ready', flush=True)
            announced = True
        next_beat += args.heartbeat_interval
        # A late loop (paused process) beats at once, then keeps cadence.
        next_beat = max(next_beat, time.monotonic())
        stop.wait(next_beat - time.monotonic())
    return 0


if __name__ == '__main__':
    sys.exit(main())
