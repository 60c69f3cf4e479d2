"""Host failure to every HA VM back, in the lab cloud, against Nova's floor.

For each failure mode, runs its lab scenario (tests/lab/scenarios/MODE)
several times and prints the median time from the failure to each phase
(detected, confirming, fenced, evacuating, recovered: from the history;
"all HA VMs back": Nova shows every HA VM of the failed host on another
host in its earlier state, no task running, read every 0.3 s).

The floor is Nova alone in the same lab, with the engines stopped: the
host loses its power (as in "power") and, at that very moment, its
nova-compute is forced down and every HA VM evacuated at once, with no
detection, no confirmation and no fence; the time to every VM back.  Each
nova-ha run is paired with the floor run next to it: ratio =
nova-ha / floor.

Needs a lab that is up (bash tools/lab.sh up) and root.

Run: .venv/bin/python bench/lab_recovery.py [--modes power hang ...]
         [--runs 5] [--floor-runs 5]
"""

import argparse
import concurrent.futures
import configparser
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, 'lab'))

from nova_ha.compute_hooks import peers as monitor_peers  # noqa: E402

from nova_ha_lab import cli as lab_cli  # noqa: E402
from nova_ha_lab import ha_conf  # noqa: E402
from nova_ha_lab import cloud as lab_cloud  # noqa: E402
from nova_ha_lab import layout as lab_layout  # noqa: E402
from nova_ha_lab import scenario  # noqa: E402

PHASES = ('detected', 'confirming', 'fenced', 'evacuating', 'recovered',
          'all HA VMs back')
# The scenarios that end with the host's VMs elsewhere (isolate and
# coordination end with the host untouched, by design).
RECOVERED_MODES = ('power', 'hang', 'isolate_all', 'power_and_bmc',
                   'isolate_and_bmc', 'engine', 'rack')


def nova_ha_run(lab, mode):
    run = scenario.Run(lab, scenario.find(mode))
    clean = run.play()
    return clean, run.measures


def floor_run(lab):
    """Nova alone: power off a1, force it down and evacuate at once."""
    run = scenario.Run(lab, scenario.find('power'))
    run.reset()
    run.boot()
    for name in lab.engine_names():
        lab.procs.stop(name)
    try:
        conn = run.conn
        service = lab_cloud.compute_services(conn)['a1']
        vms = run.ha_vms('a1')
        watcher = scenario.BackWatcher(lab_cloud.connect(lab.layout), 'a1',
                                       vms)
        lab.fail('a1', 'power')
        began = time.time()
        watcher.start()
        conn.compute.update_service_forced_down(
            service, service.host, service.binary, True)
        with concurrent.futures.ThreadPoolExecutor(len(vms)) as pool:
            list(pool.map(lambda vm: conn.compute.evacuate_server(vm),
                          vms))
        watcher.join(300)
        watcher.stop()
        if not watcher.back_at:
            raise RuntimeError('floor: the VMs did not come back in 300 s')
        return watcher.back_at - began
    finally:
        lab.start_engines()
        lab.repair('a1')


def safe_wait_formula(lab):
    """The watchdog rung's wait, from the lab's own configuration files.

    The engine takes the watchdog as proof at lost_at + A + Q + F + W +
    margin, lost_at being when it saw the host's coordination heartbeat
    lost (about down_time after the failure).
    """
    def read(path):
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(path)
        return parser

    def get(parser, section, option, default):
        return float(parser.get(section, option, fallback=default))

    engine = read(ha_conf.engine_conf_path(lab.layout))
    monitor = read(ha_conf.monitor_conf_path(lab.layout, lab.layout.hosts[0]))
    down = get(engine, 'ha_servicegroup', 'down_time', 2.0)
    answer = monitor_peers.ANSWER_WINDOW * get(
        monitor, 'monitor_peers', 'probe_interval', 0.5)
    quorum = get(monitor, 'watchdog', 'quorum_timeout', 0)
    feed = get(monitor, 'watchdog', 'feed_interval', 0)
    timeout = get(monitor, 'watchdog', 'timeout', 0)
    margin = get(engine, 'watchdog_rung', 'margin', 5.0)
    wait = answer + quorum + feed + timeout + margin
    return ('watchdog proof at lost_at + A + Q + F + W + margin = '
            'lost_at + %.1f + %.1f + %.1f + %.1f + %.1f = lost_at + %.1f s; '
            'lost_at is about down_time = %.1f s after the failure: proof '
            'about %.1f s after it' % (answer, quorum, feed, timeout, margin,
                                       wait, down, down + wait))


def median(values):
    return statistics.median(values) if values else float('nan')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dir', help='the lab directory')
    parser.add_argument('--modes', nargs='+',
                        default=['power', 'hang', 'power_and_bmc'],
                        choices=RECOVERED_MODES)
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--floor-runs', type=int, default=None,
                        help='floor runs (default: --runs)')
    args = parser.parse_args()
    lab = lab_cli.Lab(lab_layout.default_layout(args.dir))
    floor_runs = args.runs if args.floor_runs is None else args.floor_runs

    floors, table = [], {}
    for index in range(max(args.runs, floor_runs)):
        if index < floor_runs:
            floors.append(floor_run(lab))
            print('floor run %d: %.1f s' % (index + 1, floors[-1]),
                  flush=True)
        if index >= args.runs:
            continue
        for mode in args.modes:
            clean, measures = nova_ha_run(lab, mode)
            row = table.setdefault(mode, {'clean': 0, 'runs': 0,
                                          'phases': {}, 'paired': []})
            row['runs'] += 1
            row['clean'] += int(clean)
            # The slowest failed host of the run (a rack has two).
            marks = max(measures.values(),
                        key=lambda m: m.get('all HA VMs back', 0))
            for phase in PHASES:
                if phase in marks:
                    row['phases'].setdefault(phase, []).append(marks[phase])
            back = marks.get('all HA VMs back')
            if back and index < len(floors):
                row['paired'].append(back / floors[index])
            print('%s run %d: %s%s' % (
                mode, index + 1, 'clean' if clean else 'VIOLATED',
                ''.join(', %s %.1f s' % (p, marks[p]) for p in PHASES
                        if p in marks)), flush=True)

    print()
    if {'power_and_bmc', 'isolate_and_bmc'} & set(args.modes):
        print(safe_wait_formula(lab))
    print('floor (Nova alone: force-down + every evacuation at once): '
          'median %.1f s over %d runs (%s)' % (
              median(floors), len(floors),
              ', '.join('%.1f' % f for f in floors)))
    print('| mode | clean | %s | ratio to floor (paired) |' % ' | '.join(
        PHASES))
    print('|---|---|%s---|' % ('---|' * len(PHASES)))
    for mode, row in table.items():
        back = row['phases'].get('all HA VMs back', [])
        print('| %s | %d/%d | %s | %.2f (%s) |' % (
            mode, row['clean'], row['runs'], ' | '.join(
                '%.1f' % median(row['phases'].get(p, []))
                for p in PHASES),
            median(back) / median(floors) if back and floors
            else float('nan'),
            ', '.join('%.2f' % r for r in row['paired'])))
    return 0


if __name__ == '__main__':
    sys.exit(main())
