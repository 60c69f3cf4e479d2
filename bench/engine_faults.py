"""Engine replicas under real faults: the table of runs.

Runs each fault of tests/integration/faults/test_engine_faults.py several
times, each run in a pytest process of its own, cycling through the points
of the recovery the fault may strike at, and prints per fault: the runs,
those that kept every promise, Nova's duplicate evacuations and the VMs
lost (both judged from Nova's records, target 0), the takeover time (the
fault to a survivor's takeover in the history) and the time from the host
failure to Nova's last evacuation done, against the runs without a fault.

Run: .venv/bin/python bench/engine_faults.py [--runs 5]
         [--faults kill term ...] [--points mid_requests ...]
         [--results FILE] [--vms 20]
A whole matrix (10 faults x 5 runs) takes about an hour here.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.integration.faults import test_engine_faults as cases  # noqa

TEST_FILE = 'tests/integration/faults/test_engine_faults.py'
RUN_TIMEOUT = 900


def run_once(fault, point, results, vms, log):
    node = '%s::EngineFaults::test_%s_%s' % (TEST_FILE, fault, point)
    env = dict(os.environ, NOVA_HA_FAULT_MATRIX='1',
               NOVA_HA_FAULT_RESULTS=results,
               NOVA_HA_FAULT_VMS=str(vms))
    began = time.monotonic()
    try:
        completed = subprocess.run(
            [sys.executable, '-m', 'pytest', '-q', '-x', '-p',
             'no:cacheprovider', node], cwd=ROOT, env=env,
            stdout=log, stderr=subprocess.STDOUT, timeout=RUN_TIMEOUT)
        passed = completed.returncode == 0
    except subprocess.TimeoutExpired:
        passed = False
    return passed, time.monotonic() - began


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(value, unit=' s'):
    return '-' if value is None else '%.2f%s' % (value, unit)


def table(outcomes, saved):
    """outcomes: [(fault, point, passed)]; saved: the runs' JSON lines."""
    lines = ['| fault | runs (points) | kept every promise | duplicates |'
             ' lost | takeover, median (max) | failure to last move done,'
             ' median | Nova\'s evacuations at the fault |',
             '|---|---|---|---|---|---|---|---|']
    for fault in cases.FAULTS:
        mine = [o for o in outcomes if o[0] == fault]
        if not mine:
            continue
        runs = [r for r in saved if r['fault'] == fault]
        verdicts = [r['verdict'] or {} for r in runs]
        takeovers = [r['takeover_s'] for r in runs
                     if r['takeover_s'] is not None]
        points = sorted({o[1] for o in mine})
        lines.append('| %s | %d (%s) | %d | %d | %s | %s | %s | %s |' % (
            fault, len(mine), ', '.join(points),
            sum(1 for o in mine if o[2]),
            sum(v.get('duplicates', 0) for v in verdicts),
            # a run that never reached its verdict counts its VMs as lost
            '%d%s' % (sum(v.get('lost', 0) for v in verdicts),
                      '' if len(runs) == len(mine) else
                      ' (+%d runs without a verdict)' % (len(mine) -
                                                          len(runs))),
            '%s (%s)' % (_fmt(_median(takeovers)),
                         _fmt(max(takeovers) if takeovers else None))
            if takeovers else '-',
            _fmt(_median([r['recovered_s'] for r in runs])),
            ', '.join(str(r['evacuations_at_fault']) for r in runs
                      if r['evacuations_at_fault'] is not None) or '-'))
    return '\n'.join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--runs', type=int, default=5)
    parser.add_argument('--faults', nargs='+', default=list(cases.FAULTS),
                        choices=list(cases.FAULTS))
    parser.add_argument('--points', nargs='+', default=None,
                        help='only these points (where a fault allows)')
    parser.add_argument('--vms', type=int, default=20)
    parser.add_argument('--results', default=None,
                        help='JSON lines of the runs (appended)')
    args = parser.parse_args()
    results = args.results or tempfile.mktemp(prefix='nova-ha-faults-',
                                              suffix='.jsonl')
    log_path = results + '.log'
    outcomes = []
    with open(log_path, 'ab') as log:
        for fault in args.faults:
            points = [p for p in cases.FAULTS[fault]
                      if args.points is None or p in args.points] or \
                list(cases.FAULTS[fault])
            for index in range(args.runs):
                point = points[index % len(points)]
                passed, took = run_once(fault, point, results, args.vms,
                                        log)
                outcomes.append((fault, point, passed))
                print('%-12s %-14s %s in %.0f s' % (
                    fault, point, 'kept every promise' if passed else
                    'FAILED (see %s)' % log_path, took), flush=True)
    saved = []
    if os.path.exists(results):
        with open(results) as f:
            saved = [json.loads(line) for line in f if line.strip()]
    print()
    print(table(outcomes, saved))
    print()
    print('runs: %s; pytest output: %s' % (results, log_path))
    return 0 if all(o[2] for o in outcomes) else 1


if __name__ == '__main__':
    sys.exit(main())
