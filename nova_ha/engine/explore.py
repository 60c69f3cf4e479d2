"""The randomized explorer: random clouds, random faults, a strict judge.

    python -m nova_ha.engine.explore --seeds 2000            # seeds 0..1999
    python -m nova_ha.engine.explore --seeds 100000 --jobs 2 --start 5000
    python -m nova_ha.engine.explore --show 1234             # one seed's log
    python -m nova_ha.engine.explore --seeds 500 --out DIR   # shrink failures
                                                             # into folders

Each seed is a scenario (a cloud.yaml document and an events script)
drawn from the simulator's vocabulary by ``random.Random(seed)``, so a
seed replays exactly.  The run is judged by nova_ha.engine.judge at every
instant; a seed fails when the judge finds any violation.  A failing seed
is shrunk (events, servers and replicas dropped while it still fails the
same way) and written out as a scenario folder for tests/scenarios/.

What the generator draws, and why it stays honest:

- one to three segments of two to six hosts (some reserved), sometimes
  hosts in no segment; one to twelve VMs, most of them HA;
- one to three engine replicas, their clocks and the hosts' off by up to
  ``--max-skew`` seconds (the documented NTP assumption);
- the production defaults of every safety option (a trusted watchdog kind
  is never widened, the noop fence driver is never drawn), the opt-in
  escalation of a dead nova-compute in some clouds, the watchdog rung in
  some ladders, peer probes with watchdogs of every kind in some clouds;
- a schedule of faults from every command of the scenario language:
  power, hangs, network cuts one way or both, single links, replays, dead
  processes, BMCs that die, lie or refuse, engines killed, cut, paused and
  restarted, control-plane outages, lost and forged reports, operators'
  maintenance, retries, closes and confirm-downs, deleted and
  live-migrating VMs, evacuations that fail after the spawn;
- an operator's confirm-down is drawn alone only for a host that is
  powered off and stays so (a true attestation) or for one with no fault
  scheduled before it (a mistaken one the engine must refuse: its
  heartbeats live), and within a story where an operator handles a
  failed host (maintenance, an attestation true or false, the host maybe
  coming back): the judge holds the engine to refusing an attestation
  once its host showed it lives, and counts no VM run twice on a false
  one acted on before.
"""

import argparse
import logging
import multiprocessing
import os
import random
import sys
import time

import yaml

from nova_ha.engine import scenario

# The watchdog kinds monitors announce (hardware, the one believed by
# default, twice as often as each other).
KINDS = ('hardware', 'hardware', 'ipmi', 'softdog', 'software', None)
LADDERS = ('bmc,watchdog,operator', 'bmc,operator', 'watchdog,bmc,operator',
           'bmc,watchdog')
PARTS = ('nova', 'conductor', 'rabbit', 'database', 'redis', 'history')


class Draw:
    """One seed's cloud and fault schedule."""

    def __init__(self, seed, max_skew=2.0, horizon=240.0):
        self.seed = seed
        self.r = random.Random(seed)
        self.max_skew = max_skew
        self.horizon = horizon
        self.events = []          # (time, order, line)
        self._order = 0

    # -- the cloud -------------------------------------------------------------

    def cloud(self):
        r = self.r
        segments = {}
        hosts = []
        for index in range(r.choice((1, 1, 2, 2, 3))):
            name = 'seg-%s' % 'abc'[index]
            count = r.randint(2, 6)
            names = ['%s%d' % ('abc'[index], i + 1) for i in range(count)]
            reserved = names[-r.randint(0, min(2, count - 1)):] \
                if r.random() < 0.7 else []
            reserved = [n for n in reserved if n != names[0]]
            seg = {'hosts': [n for n in names if n not in reserved]}
            if reserved:
                seg['reserved'] = reserved
            if r.random() < 0.5:
                seg['fencing'] = r.choice(LADDERS)
            if r.random() < 0.1:
                seg['evacuate_all'] = True
            if r.random() < 0.1:
                seg['recovery_method'] = r.choice(('auto', 'reserved_host',
                                                   'auto_priority'))
            segments[name] = seg
            hosts += names
        loose = ['x%d' % (i + 1) for i in range(
            r.choice((0, 0, 0, 1, 2, 3)))]
        hosts += loose
        self.hosts = hosts
        spec = {'segments': segments, 'deadline': 600}
        if loose:
            spec['hosts'] = loose
        servers = []
        for i in range(r.randint(1, 12)):
            vm = {'name': 'v%d' % (i + 1), 'host': r.choice(hosts)}
            if r.random() < 0.2:
                vm['ha'] = False
            if r.random() < 0.3:
                vm['priority'] = r.randint(0, 10)
            if r.random() < 0.15:
                vm['status'] = 'SHUTOFF'
            servers.append(vm)
        spec['servers'] = servers
        self.vms = [vm['name'] for vm in servers]
        self.engines = ['engine-%d' % (i + 1)
                        for i in range(r.choice((1, 2, 2, 3)))]
        spec['engines'] = list(self.engines)
        settings = {}
        if r.random() < 0.4:
            settings['compute_dead_fence_after'] = r.choice((60, 90, 120))
        if r.random() < 0.3:
            settings['fencing'] = r.choice(LADDERS)
        if settings:
            spec['settings'] = settings
        fencing = {}
        for host in hosts:
            if r.random() < 0.05:
                fencing[host] = 'none'
        if fencing:
            spec['fencing'] = fencing
        if r.random() < 0.6:
            probes = {'watchdogs': {h: r.choice(KINDS) for h in hosts}}
            probes['watchdogs'] = {h: k for h, k in probes['watchdogs']
                                   .items() if k}
            if r.random() < 0.3:
                probes['timeout'] = r.choice((5.0, 10.0))
            if loose and r.random() < 0.8:
                probes['peers'] = {h: [p for p in loose if p != h]
                                   for h in loose}
            spec['peer_probes'] = probes
        # nova-computes report to Nova each at its own moment.
        spec['beat_phase'] = {h: round(r.uniform(0, 10), 1) for h in hosts}
        skew = {}
        for name in hosts + self.engines:
            if r.random() < 0.3:
                skew[name] = round(r.uniform(-self.max_skew, self.max_skew),
                                   2)
        if skew:
            spec['skew'] = skew
        timings = {}
        if r.random() < 0.4:
            timings['api_latency'] = r.choice((0.05, 0.5, 2.0))
        if r.random() < 0.3:
            timings['bmc_latency'] = r.choice((0.2, 1.0, 4.0))
        if r.random() < 0.3:
            timings['lease_ttl'] = r.choice((5.0, 15.0, 30.0))
        if r.random() < 0.3:
            timings['rebuild_time'] = r.choice((1.0, 3.0, 20.0))
        if timings:
            spec['timings'] = timings
        self.spec = spec
        return spec

    # -- the faults -------------------------------------------------------------

    def at(self, t, line):
        self._order += 1
        self.events.append((round(t, 1), self._order, line))

    def later(self, t, spread=60.0):
        return t + self.r.uniform(1.0, spread)

    def schedule(self):
        r = self.r
        self.off = {}           # host -> (off at, back at or None)
        self.faulty = {}        # host -> first fault time
        self.confirms = []      # (time, host) of operators' confirm-downs
        for _ in range(r.randint(1, 6)):
            t = r.uniform(0.0, self.horizon)
            fault = r.choices(FAULTS, weights=[w for _, w in FAULTS])[0][0]
            getattr(self, 'f_' + fault)(t)
        for host in self.hosts:
            if r.random() < 0.05:
                self.at(0.0, 'bmc dies-with-host %s' % host)
        # An attestation is judged true or mistaken against every fault
        # drawn, whatever the order they were drawn in.
        for t, host in self.confirms:
            off = self.off.get(host)
            truthful = off is not None and off[0] < t and off[1] is None
            mistaken = host not in self.faulty or self.faulty[host] > t
            if truthful or mistaken:
                self.at(t, 'operator confirm-down %s' % host)
        return self.lines()

    def lines(self):
        out = []
        now = 0.0
        for t, _, line in sorted(self.events):
            if t > now:
                out.append('delay %s' % round(t - now, 1))
                now = t
            out.append(line)
        return out

    def host(self):
        return self.r.choice(self.hosts)

    def _broke(self, host, t):
        self.faulty[host] = min(self.faulty.get(host, t), t)

    def f_power(self, t):
        host = self.host()
        self.at(t, 'power off %s' % host)
        self._broke(host, t)
        back = None
        if self.r.random() < 0.5:
            back = self.later(t, 120)
            self.at(back, 'power on %s' % host)
            if self.r.random() < 0.6:
                self.at(self.later(back, 30), 'operator-return %s' % host)
        self.off[host] = (t, back)

    def f_hang(self, t):
        host = self.host()
        self.at(t, 'hang %s' % host)
        self._broke(host, t)
        if self.r.random() < 0.4:
            self.at(self.later(t), 'unhang %s' % host)

    def f_isolate(self, t):
        host = self.host()
        self.at(t, 'isolate %s' % host)
        self._broke(host, t)
        if self.r.random() < 0.5:
            self.at(self.later(t, 120), 'reconnect %s' % host)

    def f_cut(self, t):
        host = self.host()
        network = self.r.choice(('management', 'storage'))
        direction = self.r.choice(('', ' tx', ' rx'))
        self.at(t, 'cut %s %s%s' % (network, host, direction))
        self._broke(host, t)
        if self.r.random() < 0.3:
            other = 'storage' if network == 'management' else 'management'
            self.at(t + self.r.uniform(0, 5), 'cut %s %s%s' % (
                other, host, self.r.choice(('', ' tx', ' rx'))))
        if self.r.random() < 0.5:
            self.at(self.later(t, 120), 'reconnect %s' % host)

    def f_link(self, t):
        a, b = self.host(), self.host()
        if a != b:
            self.at(t, 'cut link %s %s' % (a, b))
            if self.r.random() < 0.5:
                self.at(self.later(t), 'heal link %s %s' % (a, b))

    def f_replay(self, t):
        peer, host = self.host(), self.host()
        if peer != host:
            self.at(t, 'power off %s' % peer)
            self._broke(peer, t)
            self.off[peer] = (t, None)
            self.at(t, 'replay %s to %s' % (peer, host))
            self.at(t + self.r.uniform(0, 10), self.r.choice((
                'isolate %s', 'cut management %s', 'hang %s')) % host)
            self._broke(host, t)
            if self.r.random() < 0.5:
                self.at(t, 'bmc unreachable %s' % host)

    def f_compute(self, t):
        host = self.host()
        self.at(t, 'stop nova-compute %s' % host)
        self._broke(host, t)
        if self.r.random() < 0.4:
            # Its BMC unusable too: nothing can fence it through there.
            self.at(t, 'bmc %s %s' % (self.r.choice(
                ('unreachable', 'dead', 'wrong_password')), host))
        if self.r.random() < 0.4:
            self.at(self.later(t, 200), 'start nova-compute %s' % host)

    def f_bmc(self, t):
        host = self.host()
        state = self.r.choice(('unreachable', 'wrong_password', 'slow',
                               'stale', 'dead'))
        self.at(t, 'bmc %s %s' % (state, host))
        if self.r.random() < 0.3:
            self.at(self.later(t, 200), 'bmc ok %s' % host)
        if self.r.random() < 0.6:
            follow = self.r.choice(('power off', 'hang', 'isolate'))
            when = t + self.r.uniform(0, 20)
            self.at(when, '%s %s' % (follow, host))
            self._broke(host, when)
            if follow == 'power off':
                self.off[host] = (when, None)

    def f_engine(self, t):
        engine = self.r.choice(self.engines)
        what = self.r.choice(('kill', 'cut', 'pause'))
        if what == 'kill':
            # Killed, and started again by its service manager.
            self.at(t, 'kill %s' % engine)
            self.at(self.later(t), 'start %s' % engine)
        elif what == 'cut':
            # A partition of the engine from the backend, which heals.
            self.at(t, 'cut %s' % engine)
            self.at(self.later(t), 'uncut %s' % engine)
        else:
            self.at(t, 'pause %s %s' % (engine, self.r.choice(
                (1, 5, 20, 40))))

    def f_coordination(self, t):
        self.at(t, 'restart coordination')

    def f_control(self, t):
        part = self.r.choice(PARTS)
        self.at(t, '%s down' % part)
        self.at(t + self.r.choice((5, 30, 90, 200)), '%s up' % part)

    def f_bus(self, t):
        self.at(t, self.r.choice(('drop next event', 'duplicate next event',
                                  'report down %s' % self.host(),
                                  'report up %s' % self.host())))

    def f_operator(self, t):
        host = self.host()
        what = self.r.choice(('maintenance', 'confirm', 'retry', 'close'))
        if what == 'maintenance':
            self.at(t, 'maintenance on %s' % host)
            if self.r.random() < 0.7:
                self.at(self.later(t, 120), 'maintenance off %s' % host)
        elif what == 'confirm':
            self.confirms.append((t, host))
        else:
            self.at(t, 'operator %s %s' % (what, host))

    def f_handled(self, t):
        """An operator handles a host that failed: maintenance, then an
        attestation (true, or false for a host that only lost its
        networks or hangs), then the host may come back before the
        maintenance ends."""
        host = self.host()
        fault = self.r.choice(('power off', 'isolate', 'hang',
                               'cut management'))
        self.at(t, 'bmc unreachable %s' % host)
        self.at(t, '%s %s' % (fault, host))
        self._broke(host, t)
        t += self.r.uniform(5, 150)
        self.at(t, 'maintenance on %s' % host)
        self.at(t + 1, 'operator confirm-down %s' % host)
        if self.r.random() < 0.7:
            back = {'power off': 'power on', 'isolate': 'reconnect',
                    'hang': 'unhang', 'cut management': 'reconnect'}[fault]
            self.at(t + self.r.uniform(2, 40), '%s %s' % (back, host))
        self.at(t + self.r.uniform(45, 90), 'maintenance off %s' % host)

    def f_vm(self, t):
        vm = self.r.choice(self.vms)
        what = self.r.choice(('delete', 'live', 'spawn'))
        if what == 'delete':
            self.at(t, 'delete %s' % vm)
        elif what == 'live':
            self.at(t, 'live-migrate %s %s' % (vm, self.host()))
        else:
            self.at(0.0, 'fail-after-spawn %s' % vm)

    def f_guest(self, t):
        """A guest dies on its host (and maybe at its next boots), its
        owner may stop it meanwhile; or libvirtd dies for a while."""
        if self.r.random() < 0.2:
            host = self.host()
            self.at(t, 'stop libvirtd %s' % host)
            self.at(self.later(t, 120), 'start libvirtd %s' % host)
            return
        vm = self.r.choice(self.vms)
        if self.r.random() < 0.3:
            self.at(t, 'crash-at-boot %s %d' % (vm, self.r.randint(1, 5)))
        self.at(t, 'crash %s %s' % (vm, self.r.choice(
            ('crash', 'watchdog', 'panic', 'io_error'))))
        if self.r.random() < 0.15:
            self.at(self.later(t, 20), 'user-stop %s' % vm)


FAULTS = (('power', 6), ('hang', 4), ('isolate', 3), ('cut', 4),
          ('link', 2), ('replay', 1), ('compute', 3), ('bmc', 5),
          ('engine', 4), ('coordination', 1), ('control', 4), ('bus', 2),
          ('operator', 4), ('handled', 2), ('vm', 2), ('guest', 3))


def case(seed, max_skew=2.0):
    """(cloud spec, event lines) of one seed."""
    draw = Draw(seed, max_skew)
    spec = draw.cloud()
    return spec, draw.schedule()


def judge(spec, lines):
    """The violations of one run: [(kind, text)]; an error of the script
    (a command the state refused) is no violation."""
    cloud = scenario.play(spec, lines, lenient=True)
    return cloud.judge.found, cloud


def run_seed(args):
    seed, max_skew = args
    spec, lines = case(seed, max_skew)
    try:
        found, _ = judge(spec, lines)
    except Exception as e:         # a crash of the engine is a finding too
        return seed, [('crash', '%s: %s' % (type(e).__name__, e))]
    return seed, found


def _still_fails(spec, lines, kinds):
    try:
        found, _ = judge(spec, lines)
    except Exception as e:
        return 'crash' in kinds, [('crash', str(e))]
    return bool({k for k, _ in found} & kinds), found


def shrink(spec, lines, kinds):
    """A smaller (spec, lines) that still fails with one of ``kinds``."""
    kinds = set(kinds)
    changed = True
    while changed:
        changed = False
        # Drop events (not the delays: they keep the others' times).
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].startswith('delay '):
                continue
            trial = lines[:i] + lines[i + 1:]
            if _still_fails(spec, trial, kinds)[0]:
                lines, changed = trial, True
        # Drop servers no event names.
        servers = spec.get('servers') or []
        for i in range(len(servers) - 1, -1, -1):
            name = servers[i]['name']
            if any(name in line.split() for line in lines):
                continue
            trial = dict(spec, servers=servers[:i] + servers[i + 1:])
            if trial['servers'] and _still_fails(trial, lines, kinds)[0]:
                spec, servers, changed = trial, trial['servers'], True
        # Drop replicas no event names.
        engines = spec.get('engines') or []
        for name in list(engines):
            if len(engines) == 1 or any(name in line.split()
                                        for line in lines):
                continue
            trial = dict(spec, engines=[e for e in engines if e != name])
            if _still_fails(trial, lines, kinds)[0]:
                spec, engines, changed = trial, trial['engines'], True
    # Merge the delays left next to each other.
    merged = []
    for line in lines:
        if line.startswith('delay ') and merged and \
                merged[-1].startswith('delay '):
            merged[-1] = 'delay %s' % round(
                float(merged[-1].split()[1]) + float(line.split()[1]), 1)
        else:
            merged.append(line)
    if merged and merged[-1].startswith('delay '):
        merged.pop()
    if _still_fails(spec, merged, kinds)[0]:
        lines = merged
    return spec, lines


def write_folder(out, seed, spec, lines, found):
    kind = found[0][0] if found else 'none'
    folder = os.path.join(out, 'explored_%s_seed_%d' % (kind, seed))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'cloud.yaml'), 'w') as f:
        yaml.safe_dump(spec, f, sort_keys=True, default_flow_style=None)
    with open(os.path.join(folder, 'events'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(os.path.join(folder, 'README'), 'w') as f:
        f.write('Found by the explorer (seed %d, shrunk): %s\n' % (
            seed, '; '.join(text for _, text in found[:3])))
    cloud = scenario.play(spec, lines, lenient=True)
    with open(os.path.join(folder, 'expected.log'), 'w') as f:
        f.write('\n'.join(cloud.lines) + '\n')
    return folder


def explore(seeds, jobs=1, max_skew=2.0, budget=None, progress=None,
            stop=False):
    """Run ``seeds``; (runs, failures) with failures {seed: found}.
    ``stop``: at the first failure."""
    work = [(seed, max_skew) for seed in seeds]
    failures = {}
    started = time.monotonic()
    runs = 0
    if jobs > 1:
        pool = multiprocessing.Pool(jobs)
        results = pool.imap_unordered(run_seed, work, chunksize=8)
    else:
        pool = None
        results = map(run_seed, work)
    try:
        for seed, found in results:
            runs += 1
            if found:
                failures[seed] = found
                # Said at once: a long run may be stopped before its end.
                sys.stderr.write('seed %d fails: %s\n' % (
                    seed, ', '.join(sorted({k for k, _ in found}))))
                if stop:
                    break
            if progress and runs % 500 == 0:
                progress(runs, failures, time.monotonic() - started)
            if budget is not None and time.monotonic() - started > budget:
                break
    finally:
        if pool is not None:
            pool.terminate()
    return runs, failures


def main(argv=None):
    # The replicas' warnings (a part of the control plane not answering)
    # are the faults the explorer injects: the judge speaks for the run.
    logging.getLogger('nova_ha').setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seeds', type=int, default=1000,
                        help='how many seeds to run')
    parser.add_argument('--start', type=int, default=0,
                        help='the first seed')
    parser.add_argument('--jobs', type=int, default=1,
                        help='processes running seeds at once')
    parser.add_argument('--max-skew', type=float, default=2.0,
                        help='clock skew of hosts and engines, seconds')
    parser.add_argument('--budget', type=float,
                        help='stop after this many seconds')
    parser.add_argument('--stop', action='store_true',
                        help='stop at the first failing seed')
    parser.add_argument('--out',
                        help='shrink each failing seed into a scenario '
                             'folder here (the first 10)')
    parser.add_argument('--show', type=int, metavar='SEED',
                        help='print one seed\'s scenario and log')
    args = parser.parse_args(argv)
    if args.show is not None:
        spec, lines = case(args.show, args.max_skew)
        sys.stdout.write(yaml.safe_dump(spec, sort_keys=True,
                                        default_flow_style=None))
        sys.stdout.write('---\n' + '\n'.join(lines) + '\n---\n')
        found, cloud = judge(spec, lines)
        sys.stdout.write('\n'.join(cloud.lines) + '\n')
        return 1 if found else 0

    def progress(runs, failures, elapsed):
        sys.stderr.write('%d seeds, %d failing, %.0f s\n' % (
            runs, len(failures), elapsed))

    started = time.monotonic()
    runs, failures = explore(range(args.start, args.start + args.seeds),
                             args.jobs, args.max_skew, args.budget, progress,
                             args.stop)
    elapsed = time.monotonic() - started
    by_kind = {}
    for seed, found in sorted(failures.items()):
        for kind in sorted({k for k, _ in found}):
            by_kind.setdefault(kind, []).append(seed)
    print('%d seeds (%d..%d) in %.1f s: %d failing' % (
        runs, args.start, args.start + runs - 1, elapsed, len(failures)))
    for kind, seeds in sorted(by_kind.items()):
        print('  %s: %d seeds, first %s' % (
            kind, len(seeds), ', '.join(str(s) for s in seeds[:10])))
    if args.out:
        for seed in sorted(failures)[:10]:
            spec, lines = case(seed, args.max_skew)
            kinds = {k for k, _ in failures[seed]}
            spec, lines = shrink(spec, lines, kinds)
            found, _ = judge(spec, lines)
            print('  seed %d -> %s' % (seed, write_folder(
                args.out, seed, spec, lines, found or failures[seed])))
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
