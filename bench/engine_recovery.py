"""Time from a host-failure event to every HA VM ACTIVE on its new host.

In-process cloud (Nova's functional framework, fake.FakeDriver computes, so
one host has room for all the VMs): segment seg-a = a1 + reserved a-spare.
N HA VMs run on a1.  The hypervisor a1 dies (its nova-compute stops) and:

* nova-ha: a monitor publishes host.down on the engine's topic; the engine
  fences a1 through a real IPMI peer (pyghmi's fakebmc, driven with the IPMI
  fence driver), forces the service down, plans, evacuates and disables (the
  engine's default options). By default the engine is the
  installed nova-ha-engine in its own process, as deployed: it reaches the
  cloud's nova-api over loopback HTTP and the bus over RabbitMQ
  (127.0.0.1:5672; see nova_ha_testbed.engine_process). ``--engine thread``
  runs it in this process instead (fake:// bus, API through wsgi-intercept),
  where it competes with every Nova service for the one interpreter.
* Nova's floor, measured in the same process: force-down, then every
  evacuation fired at once through the API (microversion 2.94, so the VMs
  come back running) with no HA logic: over loopback HTTP as the engine's
  requests go (``--floor-api``; see BenchCloud._floor_api).

Both are timed until every VM is ACTIVE on a-spare: the moment Nova
finished its last evacuation, from its own records, once its rebuild.end
notifications and a read of the API show them all done (the bench does
not poll the cloud it measures while the moves run: see BenchCloud._wait).
Nova's rebuild notifications reach the engine through the nova_ha_forward
driver (see nova_ha_testbed.engine), as in production.
Prints the median of several runs, the engine's phases from its history,
and the check "nova-ha <= fence + 1.1 x floor".

Run: .venv/bin/python bench/engine_recovery.py [--vms 12 50] [--runs 3]
         [--engine process|thread]
"""

import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova_ha_testbed import cloud  # noqa: E402  (Nova's test mode first)

import argparse  # noqa: E402
import datetime  # noqa: E402
import gc  # noqa: E402
import logging  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import unittest  # noqa: E402
import urllib.request  # noqa: E402


sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from nova_ha.fencing import base as fence_base  # noqa: E402
from nova_ha.fencing import ipmi  # noqa: E402
from nova_ha.notifier import events  # noqa: E402

from nova_ha_testbed import engine as engine_harness  # noqa: E402
from nova_ha_testbed import engine_process  # noqa: E402
from tests.integration.fencing import peers  # noqa: E402
from tests.integration import services  # noqa: E402

# The failed host's BMC, as [fencing_host:a1] of nova-ha.conf.
FENCE_OPTIONS = {'driver': 'ipmi', 'address': '127.0.0.1',
                 'username': peers.FAKEBMC_USER,
                 'password': peers.FAKEBMC_PASSWORD,
                 'interface': 'ipmitool', 'cipher_suite': 3}

RESULTS = []

# How far Nova's clocks and the engine's may disagree (NTP): the engine
# reads Nova's records this far back from its own clock (see
# nova_ha.engine.core.CLOCK_MARGIN).
CLOCK_SKEW_MARGIN = 10.0


class BenchCloud(cloud.HACloudTestCase):
    compute_driver = 'fake.FakeDriver'
    TOPOLOGY = (cloud.SegmentSpec('seg-a', ['a1'], ['a-spare']),)
    UNSEGMENTED_HOSTS = ()
    VMS = 12
    MODE = 'nova-ha'
    FLOOR_API = 'http'
    FLOW = {}
    ENGINE_OPTIONS = {}

    def test_run(self):
        flavor = self._create_flavor(name='tiny', memory_mb=64, vcpu=1,
                                     disk=1, ephemeral=0)
        # Booted all at once and waited for together: one by one, each
        # boot waits on the ones before it, and Nova's helper gives up
        # after 5 s (a 50-VM run on a slow machine failed that way).
        ids = [self.boot_server('vm%02d' % i, host='a1', flavor_id=flavor,
                                expected_state=None)['id']
               for i in range(self.VMS)]
        self.wait_for(lambda: self._all_active_on(ids, 'a1'), timeout=600,
                      interval=0.2, what='all VMs booted on a1')
        self._booted = time.monotonic()
        runner = {'floor': self._floor, 'nova-ha': self._nova_ha,
                  'nova-ha-thread': self._nova_ha_thread,
                  'floor-beside-engine': self._floor_beside_engine}[
                      self.MODE]
        RESULTS.append(runner(ids))

    def _all_active_on(self, ids, host):
        # Through the API, stopping at the first VM not there yet.  (Read
        # from Nova's cell database instead, the check held the test
        # fixture's cell lock, which every other database access of the
        # in-process Nova waits for, and a 50-VM run stalled.)
        for server_id in ids:
            s = self.admin_api.get_server(server_id)
            if s['status'] != 'ACTIVE' or \
                    s['OS-EXT-SRV-ATTR:host'] != host:
                return False
        return True

    def _wait(self, ids, start, start_wall):
        """Seconds from the start until every VM is ACTIVE on a-spare
        (``total``), and until the bench saw it (``seen``).

        The bench must not load the cloud it measures (each API read is
        work for the one interpreter that runs every Nova service; polling
        every 0.1 s through the run took about a quarter of its CPU, and
        more the longer a run took).  So it waits on Nova's rebuild.end
        notifications (a condition wait), then reads the API until every
        VM shows ACTIVE on a-spare, and takes the moment from Nova's own
        records: the last write of an evacuation (finish_evacuation's
        migration save, after the server's host and state).
        """
        self.notifier.wait_for_versioned_notifications(
            'instance.rebuild.end', n_events=len(ids), timeout=600)
        # Nova's last step of each evacuation comes after its rebuild.end.
        rebuilt = time.monotonic() - start
        self.wait_for(lambda: self._all_active_on(ids, 'a-spare'),
                      timeout=600, interval=0.1,
                      what='all VMs ACTIVE on a-spare')
        seen = time.monotonic() - start
        # CPU seconds the cloud (this process: every Nova service) spent
        # until then: the same work costs the same, whoever asked for it.
        cloud_cpu = time.process_time() - self._cpu_at_death
        first, last = self._nova_finished(ids, start_wall)
        return {'total': last, 'first_done': first, 'seen': seen,
                'cloud_cpu': cloud_cpu, 'tail': last - rebuilt}

    def _nova_finished(self, ids, start_wall):
        """When Nova finished the first and the last evacuation, after the
        start."""
        # Nova's records are naive UTC.
        ends = [datetime.datetime.fromisoformat(m['updated_at']).replace(
                    tzinfo=datetime.timezone.utc)
                for m in self.admin_api.get_migrations()
                if m['instance_uuid'] in ids and m['status'] == 'done' and
                m['migration_type'] == 'evacuation']
        if len(ends) < len(ids):
            raise AssertionError('%d of %d evacuations done in Nova' % (
                len(ends), len(ids)))
        return ((min(ends) - start_wall).total_seconds(),
                (max(ends) - start_wall).total_seconds())

    def _settle(self):
        """Wait until the VMs have run for a while.

        A host rarely dies within seconds of its VMs' last change.  The
        VMs run for CLOCK_SKEW_MARGIN (and a second) first, so none of
        Nova's records of their boot falls within the margin the engine
        allows between Nova's clocks and its own, as in a cloud whose
        host dies long after its VMs booted (the runs recorded in
        docs/benchmarks.md waited the same).  Both modes wait the same
        before the host dies.
        """
        settled = CLOCK_SKEW_MARGIN + 1.0
        time.sleep(max(0.0, self._booted + settled - time.monotonic()))

    def _host_dies(self):
        """a1's hypervisor dies, once its VMs have run for a while."""
        self._settle()
        self.computes['a1'].stop()
        self._cpu_at_death = time.process_time()
        _profile(self.MODE, self.VMS)

    def _floor_beside_engine(self, ids):
        """The floor, in a cloud where nova-ha-engine is deployed and
        listening but not told of the failure (a control: what the
        deployment itself costs Nova)."""
        self._deploy_engine()
        return dict(self._floor(ids), mode='floor-beside-engine')

    def _floor(self, ids):
        post = self._floor_api()
        self._host_dies()
        start, start_wall = time.monotonic(), _utcnow()
        service = self.admin_api.get_services(host='a1',
                                              binary='nova-compute')[0]
        self.admin_api.put_service(service['id'], {'forced_down': 'true'})
        for server_id in ids:
            began = time.monotonic()
            post(server_id)
            if os.environ.get('BENCH_VERBOSE'):
                print('  api %6.2f %5.2f POST evacuate %s' % (
                    began - start, time.monotonic() - began, server_id))
        return dict(self._wait(ids, start, start_wall), mode='floor',
                    vms=len(ids))

    def _floor_api(self):
        """How the floor asks for an evacuation (microversion 2.94, so
        the VMs come back running).

        ``http`` (default): over loopback HTTP to the cloud's nova-api,
        the path the engine's requests take.  That server shares this
        process's interpreter with every Nova service, so each of its
        socket reads and writes gives up the GIL and waits to get it back
        behind busy services (in production nova-api is a process of its
        own); the floor's requests pay that as the engine's do.
        ``inline``: through Nova's test client in this thread
        (wsgi-intercept), which pays none of it.
        """
        if self.FLOOR_API == 'inline':
            def post(server_id):
                self.admin_api.microversion = '2.94'
                try:
                    self.admin_api.post_server_action(server_id,
                                                      {'evacuate': {}})
                finally:
                    self.admin_api.microversion = self.microversion
            return post
        api = engine_process.NovaAPIServer(self)
        self.addCleanup(api.stop)
        _warm_up(api.endpoint)

        def post(server_id):
            request = urllib.request.Request(
                '%s/servers/%s/action' % (api.endpoint, server_id),
                data=b'{"evacuate": {}}', method='POST',
                headers={'Content-Type': 'application/json',
                         'OpenStack-API-Version': 'compute 2.94'})
            with urllib.request.urlopen(request, timeout=60) as reply:
                reply.read()
        return post

    def _bmc(self):
        workdir = tempfile.mkdtemp(prefix='nova-ha-bench-')
        bmc = peers.FakeBMC(workdir)
        self.addCleanup(bmc.stop)
        bmc.power('on')
        return workdir, bmc

    def _deploy_engine(self):
        """nova-ha-engine deployed against this cloud, with a1's BMC, and
        the HTTP nova-api it talks to warmed."""
        workdir, bmc = self._bmc()
        self.bmc_of_a1 = bmc
        self._settle()
        ha_engine = engine_process.deploy(
            self, services.RABBIT_URL, workdir=workdir,
            fencing={'a1': dict(FENCE_OPTIONS, port=bmc.port)},
            engine_options=self.ENGINE_OPTIONS)
        _warm_up(ha_engine.api_server.endpoint)
        return ha_engine

    def _nova_ha(self, ids):
        """The installed nova-ha-engine in its own process, as deployed:
        Nova's API over loopback HTTP, events and Nova's notifications over
        RabbitMQ, fencing through fakebmc over IPMI."""
        ha_engine = self._deploy_engine()
        self._host_dies()
        # The host lost its power: its BMC says so (a hung host, whose
        # BMC still says on, is confirmed by Nova's heartbeat instead).
        self.bmc_of_a1.power('off')
        start, start_wall = time.monotonic(), _utcnow()
        ha_engine.publish(events.HOST_DOWN, 'a1', source='bench')
        times = self._wait(ids, start, start_wall)
        ha_engine.wait_recovered('a1')
        if os.environ.get('BENCH_VERBOSE'):
            for began, took, method, path, query in \
                    ha_engine.api_server.requests:
                if began >= start:
                    print('  api %6.2f %5.2f %s %s %s' % (
                        began - start, took, method, path[-50:], query[:60]))
        return dict(_phases(ha_engine.history.query(), start_wall),
                    mode='nova-ha', vms=len(ids), **times)

    def _nova_ha_thread(self, ids):
        """The engine in this process (nova_ha_testbed.engine's harness):
        fake:// bus, Nova's API through wsgi-intercept."""
        _workdir, bmc = self._bmc()
        driver = ipmi.IPMIFenceDriver('a1', fence_base.BMCConfig(
            driver='ipmi', address='127.0.0.1', port=bmc.port,
            username=peers.FAKEBMC_USER, password=peers.FAKEBMC_PASSWORD,
            options={'interface': 'ipmitool', 'cipher_suite': 3}))
        # Host failures are the host-failure engine's (nova_ha.engine),
        # with the defaults nova-ha.conf ships.
        harness = engine_harness.EngineHarness(
            self, engine_harness.production_like_settings(),
            host_settings=engine_harness.core_settings(**self.FLOW))
        self.addCleanup(harness.stop)

        def fence(host):
            result = driver.fence(timeout=30, poll_interval=0.1)
            if result.confirmed_off:
                self.computes[host].stop()
                harness.bmcs.power[host] = 'off'   # its later power reads
            return result
        harness.host_env._fencer = fence
        self._host_dies()
        start, start_wall = time.monotonic(), _utcnow()
        harness.publish(events.HOST_DOWN, 'a1', source='bench')
        times = self._wait(ids, start, start_wall)
        harness.wait_idle()
        return dict(_phases(harness.history.query(), start_wall),
                    mode='nova-ha-thread', vms=len(ids), **times)


def _warm_up(endpoint):
    """The reads a recovery makes, once, through the HTTP nova-api that
    each run starts afresh.

    A production nova-api has long since served requests like these: the
    first of each kind in a fresh one pays lazy set-up (measured: a detail
    list of 12 servers took 0.5 s the first time, 0.14 s after)."""
    for path in ('/servers/detail?host=a1&all_tenants=True',
                 '/os-migrations?source_compute=a1',
                 '/os-services?binary=nova-compute', '/os-aggregates'):
        with urllib.request.urlopen(endpoint + path, timeout=60) as reply:
            reply.read()


def _profile(mode, vms):
    """With BENCH_PYSPY=<py-spy binary>, sample this process (the cloud)
    for BENCH_PYSPY_SECONDS from the host's death, into
    <mode>-<vms>-<n>.folded (collapsed stacks) in the current folder.

    To see where time goes, not to time: py-spy's own CPU competes
    with the cloud on a small machine, and threads waiting for the GIL
    count as samples (they are not idle to py-spy)."""
    spy = os.environ.get('BENCH_PYSPY')
    if not spy:
        return
    import subprocess
    n = len(RESULTS)
    subprocess.Popen([spy, 'record', '-p', str(os.getpid()), '-r', '100',
                      '-d', os.environ.get('BENCH_PYSPY_SECONDS', '40'),
                      '--nonblocking', '-f', 'raw',
                      '-o', '%s-%d-%d.folded' % (mode, vms, n)],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def _phases(records, start_wall):
    """The engine's phases read from its history, in seconds after the
    event was published."""
    first = start_wall

    def since_first(kind, outcome=None):
        times = [(r.at - first).total_seconds() for r in records
                 if r.kind == kind and
                 (outcome is None or r.outcome == outcome)]
        return max(times) if times else float('nan')
    fence_s = [r.detail.get('elapsed_s') for r in records
               if r.kind == 'fence'][0]
    if os.environ.get('BENCH_VERBOSE'):
        for r in records:
            print('  %6.2f %-15s %s' % ((r.at - first).total_seconds(),
                                        r.kind, r.message[:110]))
    return {'fence': fence_s,
            'fenced_at': since_first('fence'),
            'forced_down_at': since_first('service', 'forced_down'),
            'last_evacuated_at': since_first('evacuate', 'done')}


def run(mode, vms):
    # Every run builds a cloud in this process and what it leaves behind
    # stays: frozen, the leftovers are no longer walked by each garbage
    # collection, so a later run is not slower for coming later (measured:
    # 5 floor runs in a row drifted from 12 s to 21 s unfrozen).
    gc.collect()
    gc.freeze()
    BenchCloud.MODE = mode
    BenchCloud.VMS = vms
    result = unittest.TestResult()
    BenchCloud('test_run').run(result)
    for _case, text in result.errors + result.failures:
        sys.stderr.write(text)
        raise SystemExit('bench run failed')
    for _case, reason in result.skipped:
        raise SystemExit('bench run skipped: %s' % reason)
    if os.environ.get('BENCH_VERBOSE'):
        print('  run: %s' % ', '.join(
            '%s=%s' % (k, '%.2f' % v if isinstance(v, float) else v)
            for k, v in RESULTS[-1].items()))
    return RESULTS[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--vms', type=int, nargs='+', default=[12, 50])
    parser.add_argument('--runs', type=int, default=3)
    parser.add_argument('--concurrency', type=int, default=None,
                        help='max_concurrent_evacuations (default: the '
                             "engine's default)")
    parser.add_argument('--control', action='store_true',
                        help='instead of nova-ha, measure the floor again '
                             'with nova-ha-engine deployed beside it but '
                             'not told of the failure')
    parser.add_argument('--set', metavar='OPTION=VALUE', action='append',
                        default=[],
                        help='an [engine] option of nova-ha.conf for the '
                             'engine (repeatable), e.g. '
                             'evacuation_request_workers=1')
    parser.add_argument('--floor-api', choices=('http', 'inline'),
                        default='http',
                        help="the floor's evacuation requests: over HTTP "
                             "like the engine's (default), or through "
                             "Nova's test client in the bench's thread")
    parser.add_argument('--floor', action=argparse.BooleanOptionalAction,
                        default=True, help='also measure the floor')
    parser.add_argument('--warmup', action=argparse.BooleanOptionalAction,
                        default=True,
                        help='first run both modes once with 2 VMs and '
                             'discard it (a production engine and Nova '
                             'are long-running: their first-call costs, '
                             'lazy imports and caches, are not part of a '
                             'recovery)')
    parser.add_argument('--engine', choices=('process', 'thread'),
                        default='process',
                        help='run nova-ha-engine as its own process '
                             '(default, as deployed) or as threads of '
                             'this process')
    args = parser.parse_args()
    BenchCloud.FLOOR_API = args.floor_api
    if args.concurrency:
        BenchCloud.FLOW = {'max_concurrent_evacuations': args.concurrency}
    BenchCloud.ENGINE_OPTIONS = dict(
        BenchCloud.FLOW, **dict(item.split('=', 1) for item in args.set))
    logging.getLogger('nova').setLevel(logging.WARNING)
    ours_mode = 'nova-ha' if args.engine == 'process' else 'nova-ha-thread'
    if args.control:
        ours_mode = 'floor-beside-engine'
    order = ['floor', ours_mode] if args.floor else [ours_mode]
    if args.warmup:
        modes = order
        for mode in modes:
            run(mode, 2)
        print('warm-up run (2 VMs: %s) discarded' % ', '.join(modes))
    for vms in args.vms:
        floors, ours = [], []
        for i in range(args.runs):
            # Alternate which mode goes first, so neither always runs on
            # the cloud the other just left.
            for mode in order[::-1] if i % 2 else order:
                (floors if mode == 'floor' else ours).append(run(mode, vms))
        floor = statistics.median(r['total'] for r in floors) \
            if floors else float('nan')
        total = statistics.median(r['total'] for r in ours)
        print('%d VMs: Nova floor %.2f s (runs: %s)' % (
            vms, floor, ', '.join('%.2f' % r['total'] for r in floors)))
        for name, runs in (('floor', floors), (ours_mode, ours)):
            if runs:
                print('    %-10s first move done %.2f s after the event, '
                      'then one per %.2f s (medians)' % (
                          name, statistics.median(
                              r['first_done'] for r in runs),
                          statistics.median(
                              (r['total'] - r['first_done']) /
                              max(1, vms - 1) for r in runs)))
                print('    %-10s last finish %.2f s after the last '
                      'rebuild.end was seen (median)' % (
                          name, statistics.median(r['tail'] for r in runs)))
                print('    %-10s cloud CPU %.2f s until seen done, %.2f '
                      'cores (medians)' % (
                          name, statistics.median(
                              r['cloud_cpu'] for r in runs),
                          statistics.median(r['cloud_cpu'] / r['seen']
                                            for r in runs)))
        print('%d VMs: %-10s %.2f s (runs: %s)' % (
            vms, ours_mode, total,
            ', '.join('%.2f' % r['total'] for r in ours)))
        if args.control:   # no engine phases to show
            print('    %s / floor = %.2f' % (ours_mode, total / floor))
            continue
        for key in ('fenced_at', 'forced_down_at', 'last_evacuated_at',
                    'seen'):
            print('    phase %-18s median %.2f s after the event' % (
                key, statistics.median(r[key] for r in ours)))
        fence = statistics.median(r['fence'] for r in ours)
        bound = fence + 1.1 * floor
        print('    fence %.2f s; bound fence + 1.1 x floor = %.2f s; '
              'nova-ha / bound = %.2f (%s)' % (
                  fence, bound, total / bound,
                  'met' if total <= bound else 'NOT met'))
        if floors:
            # The machine's speed drifts over minutes (a 50-VM floor took
            # 61-107 s within one hour): each run against the floor run
            # next to it, which shared its conditions.
            paired = [r['total'] / (r['fence'] + 1.1 * f['total'])
                      for f, r in zip(floors, ours)]
            print('    paired: nova-ha / (fence + 1.1 x the floor run '
                  'beside it) = %s; median %.2f' % (
                      ', '.join('%.2f' % x for x in paired),
                      statistics.median(paired)))


if __name__ == '__main__':
    main()
