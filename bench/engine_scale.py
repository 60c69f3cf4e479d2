"""Engine cost per reconcile at scale, on the simulated cloud.

    .venv/bin/python bench/engine_scale.py [--hosts 2000] [--vms-per-host 20]
        [--rack 40] [--replicas 2]

A cloud of ``--hosts`` hosts in segments of 40 (one reserved host each),
``--vms-per-host`` HA VMs on each ordinary host, and a rack of ``--rack``
hosts (one per segment) losing power at once.  The engine's decision core
and loop run exactly as in nova-ha-engine; only the world is simulated.

Printed per replica tick (one reconcile or one wake-up):
- the decision core's CPU time (``core.step``; target: at most 50 ms at
  2,000 hosts), and the whole loop's (observe + step + act, which includes
  building the simulated cloud's answers: an upper bound);
- Nova API calls and rows read per tick: the reads must grow with what
  changed (the failed hosts' VMs), not with the cloud's VMs.
Baselines measured in the same run: a quiet cloud's reconcile, and the same
failure on a cloud a tenth the size.
"""

import argparse
import statistics
import sys
import time

from nova_ha.engine import core
from nova_ha.engine import replica as engine_replica
from nova_ha.engine import scenario
from nova_ha.engine import sim


class Counting:
    """Counts the environment's Nova reads and the rows they return."""

    READS = {'compute_services': 'hosts', 'aggregates': None,
             'servers_on': 'servers', 'servers': 'servers',
             'migrations': 'migrations'}

    def __init__(self, env):
        self.calls = 0
        self.rows = 0
        for name in self.READS:
            setattr(env, name, self._wrap(getattr(env, name)))

    def _wrap(self, fn):
        def counted(*args):
            value = fn(*args)
            self.calls += 1
            self.rows += len(value)
            return value
        return counted


def build(hosts, vms_per_host, replicas):
    segments = {}
    servers = []
    per_segment = 40
    for index in range(hosts):
        seg = 'seg-%03d' % (index // per_segment)
        name = 'h%04d' % index
        spec = segments.setdefault(seg, {'hosts': [], 'reserved': []})
        if index % per_segment == per_segment - 1:
            spec['reserved'].append(name)
            continue
        spec['hosts'].append(name)
        for v in range(vms_per_host):
            servers.append({'name': '%s-vm%02d' % (name, v), 'host': name,
                            'priority': v % 5})
    cloud = scenario.build({
        'segments': segments, 'servers': servers,
        'capacity': {h: 10 ** 6 for s in segments.values()
                     for h in s['hosts'] + s['reserved']},
        'engines': ['engine-%d' % (i + 1) for i in range(replicas)]})
    return cloud, sorted(segments)


def instrument(cloud):
    """Wrap each replica's step and tick to time them."""
    samples = []
    for engine in cloud.engines.values():
        counter = Counting(engine.env)
        loop = engine.loop
        real_tick = loop.tick

        def tick(now, loop=loop, counter=counter, real_tick=real_tick):
            calls, rows = counter.calls, counter.rows
            stepped = []
            real_step = core.step

            def step(*args, **kwargs):
                started = time.process_time()
                try:
                    return real_step(*args, **kwargs)
                finally:
                    stepped.append(time.process_time() - started)
            engine_replica.core.step = step
            started = time.process_time()
            try:
                return real_tick(now)
            finally:
                engine_replica.core.step = real_step
                samples.append({
                    'step': sum(stepped),
                    'tick': time.process_time() - started,
                    'calls': counter.calls - calls,
                    'rows': counter.rows - rows})
        loop.tick = tick
    return samples


def run(hosts, vms_per_host, rack, replicas, quiet_time=30.0):
    cloud, segments = build(hosts, vms_per_host, replicas)
    samples = instrument(cloud)
    cloud.run_until(quiet_time)
    quiet = list(samples)
    del samples[:]
    for seg in segments[:rack]:
        host = next(h for a in cloud.aggregates if a.name == seg
                    for h in a.hosts)
        scenario.apply(cloud, 'power off %s' % host)
    scenario.finish(cloud, 900)
    failed = [line for line in cloud.lines if 'violations' in line]
    recovered = sum(1 for r in cloud.history.incidents.values()
                    if r['state'] == 'recovered')
    return quiet, list(samples), recovered, failed, cloud.now - quiet_time


def _ms(values):
    values = sorted(values)
    return '%.1f / %.1f / %.1f' % (
        statistics.median(values) * 1000,
        values[int(0.95 * (len(values) - 1))] * 1000, values[-1] * 1000)


def report(label, hosts, vms, quiet, busy, recovered, violations, took):
    print('%s: %d hosts, %d VMs; %d recovered in %.0f s of virtual time; '
          '%s' % (label, hosts, vms, recovered, took,
                  violations[-1].strip() if violations else ''))
    for name, samples in (('quiet', quiet), ('rack failure', busy)):
        print('  %-13s ticks %4d  core CPU ms (median/p95/max) %s  loop CPU '
              'ms %s  Nova calls/tick %.1f  rows/tick %.0f (max %d)' % (
                  name, len(samples), _ms([s['step'] for s in samples]),
                  _ms([s['tick'] for s in samples]),
                  statistics.mean(s['calls'] for s in samples),
                  statistics.mean(s['rows'] for s in samples),
                  max(s['rows'] for s in samples)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--hosts', type=int, default=2000)
    parser.add_argument('--vms-per-host', type=int, default=20)
    parser.add_argument('--rack', type=int, default=40)
    parser.add_argument('--replicas', type=int, default=2)
    args = parser.parse_args(argv)
    results = {}
    for label, hosts in (('baseline (a tenth)', max(80, args.hosts // 10)),
                         ('full', args.hosts)):
        rack = min(args.rack, hosts // 40)
        quiet, busy, recovered, violations, took = run(
            hosts, args.vms_per_host, rack, args.replicas)
        vms = (hosts - hosts // 40) * args.vms_per_host
        report(label, hosts, vms, quiet, busy, recovered, violations, took)
        results[label] = (quiet, busy)
    full_busy = [s['step'] for s in results['full'][1]]
    small_busy = [s['step'] for s in results['baseline (a tenth)'][1]]
    full_quiet = [s['step'] for s in results['full'][0]]
    print('ratios: core CPU per tick at full size / 50 ms target: %.2f '
          '(median), %.2f (p95); full / a tenth (rack failure, median): '
          '%.1f; rack failure / quiet (median): %.1f' % (
              statistics.median(full_busy) / 0.050,
              sorted(full_busy)[int(0.95 * (len(full_busy) - 1))] / 0.050,
              statistics.median(full_busy) / statistics.median(small_busy),
              statistics.median(full_busy) / statistics.median(full_quiet)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
