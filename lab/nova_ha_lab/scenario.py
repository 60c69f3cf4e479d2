"""Lab scenarios: a folder with the cloud to build and a script to play.

    tests/lab/scenarios/<name>/
        README           what it shows
        cloud.yaml       servers: [{name, host, priority, ha, status}]
        script           one step per line (below)
        expected.report  the invariant report it must print

Script steps:

    fail TARGET MODE                  # nova-ha-lab fail TARGET --mode MODE
    wait SECONDS
    wait-incident HOST [SECONDS]      # until the history has an incident
    expect HOST recovered within N    # judged from Nova and the history
    expect HOST parked within N       # no proof of power-off: nothing moves
    expect HOST untouched for N       # no incident ends in a fence or move
    expect HOST disabled within N     # its nova-compute disabled in Nova
    repair HOST

Before the script the lab is reset: every host repaired and enabled, every
VM deleted, the segments declared again; then the servers are booted.
While it plays, a sampler reads every host's ledger twice a second.  The
report's lines are compared with expected.report; lines starting with
"measured:" carry timings and are not compared.
"""

import os
import threading
import time

import yaml
from openstack import exceptions as openstack_exceptions

from nova_ha.history import store as history_store
from nova_ha_testbed import invariants as recovery_invariants

from nova_ha_lab import cloud as lab_cloud
from nova_ha_lab import invariants

# The checkout's tests/lab/scenarios (this file is lab/nova_ha_lab/scenario.py).
SCENARIOS_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'tests',
                             'lab', 'scenarios')
SAMPLE_INTERVAL = 0.5
BACK_INTERVAL = 0.3
BOOT_RETRIES = 3
BOOT_RETRY_DELAY = 5.0
MEASURED = 'measured:'


def find(name):
    for path in (name, os.path.join(SCENARIOS_DIR, name)):
        if os.path.isfile(os.path.join(path, 'script')):
            return os.path.abspath(path)
    raise FileNotFoundError('no scenario %r (folders in %s: %s)' % (
        name, os.path.abspath(SCENARIOS_DIR),
        ', '.join(sorted(os.listdir(SCENARIOS_DIR)))))


def _raw(conn, path):
    response = conn.compute.get(
        path, microversion=lab_cloud.COMPUTE_MICROVERSION)
    response.raise_for_status()
    return response.json()


def nova_servers(conn):
    return {s['id']: s for s in _raw(
        conn, '/servers/detail?all_tenants=1')['servers']}


def nova_migrations(conn):
    return _raw(conn, '/os-migrations')['migrations']


class Sampler(threading.Thread):
    """Reads the ledgers and the hosts' liveness twice a second."""

    def __init__(self, lab):
        super().__init__(name='lab-sampler', daemon=True)
        self.lab = lab
        self.samples = 0
        self.twice = []
        self._done = threading.Event()

    def run(self):
        hosts = self.lab.hosts
        while not self._done.is_set():
            ledgers, live = {}, set()
            for host in self.lab.layout.hosts:
                ledgers[host.name] = hosts.ledger(host)
                if hosts.live(host):
                    live.add(host.name)
            found = invariants.running_twice(ledgers, live)
            if found:
                self.twice.append((time.time(), found))
            self.samples += 1
            self._done.wait(SAMPLE_INTERVAL)

    def stop(self):
        self._done.set()
        self.join(5)


class BackWatcher(threading.Thread):
    """Reads Nova's servers every 0.3 s until the failed host's HA VMs are
    all back: on another host, in their earlier state, no task running.
    ``back_at`` is then the wall time of that look."""

    def __init__(self, conn, host, vms):
        super().__init__(name='lab-back-%s' % host, daemon=True)
        self.conn = conn
        self.host = host
        self.vms = vms          # {vm: status before the failure}
        self.back_at = None
        self._done = threading.Event()

    def back(self, servers):
        for vm, status in self.vms.items():
            server = servers.get(vm) or {}
            if (server.get('OS-EXT-SRV-ATTR:host') in (None, self.host) or
                    server.get('status') != status or
                    server.get('OS-EXT-STS:task_state')):
                return False
        return True

    def run(self):
        while not self._done.is_set():
            try:
                if self.back(nova_servers(self.conn)):
                    self.back_at = time.time()
                    return
            except Exception:   # a look that failed: the next one decides
                pass
            self._done.wait(BACK_INTERVAL)

    def stop(self):
        self._done.set()
        self.join(5)


class Run:
    """One play of a scenario against the running lab."""

    def __init__(self, lab, folder):
        self.lab = lab
        self.folder = folder
        self.name = os.path.basename(folder.rstrip('/'))
        with open(os.path.join(folder, 'cloud.yaml')) as spec:
            self.cloud = yaml.safe_load(spec) or {}
        with open(os.path.join(folder, 'script')) as script:
            self.steps = [line.split() for line in script
                          if line.strip() and not line.startswith('#')]
        self.conn = lab_cloud.connect(lab.layout)
        self.history = history_store.HistoryStore(
            lab.layout.database_url('nova_ha'))
        self.report = []
        self.failed_at = {}     # host -> time of its failure
        self.servers = {}       # name -> (id, host, ha, status)
        self.watchers = {}      # failed host -> BackWatcher
        self.measures = {}      # host -> {phase: seconds after failure}

    def say(self, text):
        print(text, flush=True)
        self.report.append(text)

    # -- set-up ---------------------------------------------------------
    def reset(self):
        lab = self.lab
        # A recovery still under way would force its host down again
        # after the reset brought it back.
        lab_cloud.wait_for(
            'no incident open', lambda: not self.history.list_incidents(
                open_only=True), 300, 1)
        for host in lab.layout.hosts:
            lab.repair(host.name)
        # A recovered host stays forced down and disabled until its
        # operator says otherwise: here, the operator is the reset.
        for service in lab_cloud.compute_services(self.conn).values():
            if service.is_forced_down or service.status != 'enabled':
                # Nova refuses to force a host up until its restarted
                # nova-compute has cleaned up the VMs evacuated from it.
                lab_cloud.wait_for(
                    '%s forced up' % service.host,
                    lambda: self._force_up(service), 180, 2)
                self.conn.compute.enable_service(
                    service, service.host, service.binary)
        names = {host.name for host in lab.layout.hosts}
        lab_cloud.wait_for('every nova-compute up',
                           lambda: lab._computes_up(self.conn, names), 180)
        for server in list(self.conn.compute.servers(all_projects=True)):
            self.conn.compute.delete_server(server, force=True)
        lab_cloud.wait_for(
            'every VM deleted',
            lambda: not list(self.conn.compute.servers(all_projects=True)),
            120)
        lab_cloud.ensure_segments(self.conn, lab.layout)

    def _force_up(self, service):
        try:
            self.conn.compute.update_service_forced_down(
                service, service.host, service.binary, False)
            return True
        except openstack_exceptions.BadRequestException:
            return False

    def boot(self):
        for spec in self.cloud.get('servers', ()):
            ha = spec.get('ha', True)
            vm = lab_cloud.boot(self.conn, spec['name'], spec['host'], ha=ha,
                                priority=spec.get('priority', 0))
            self.servers[spec['name']] = (vm, spec['host'], ha,
                                          spec.get('status', 'ACTIVE'))

        retries = {name: BOOT_RETRIES for name in self.servers}

        def all_active():
            servers = nova_servers(self.conn)
            for name, (vm, host, ha, status) in list(self.servers.items()):
                server = servers.get(vm, {})
                if server.get('status') != 'ERROR':
                    continue
                fault = (server.get('fault') or {}).get('message', '')
                if not retries[name] or 'No valid host' not in fault:
                    raise RuntimeError('%s failed to boot on %s: %s' % (
                        name, host, fault))
                # A host repaired a moment ago may not be in the
                # scheduler's view yet: boot again, a few times.
                retries[name] -= 1
                self.conn.compute.delete_server(vm, force=True)
                time.sleep(BOOT_RETRY_DELAY)
                self.servers[name] = (lab_cloud.boot(
                    self.conn, name, host, ha=ha,
                    priority=self._priority(name)), host, ha, status)
                return False
            return all(servers.get(vm, {}).get('status') == 'ACTIVE'
                       for vm, _, _, _ in self.servers.values())
        lab_cloud.wait_for('the scenario\'s VMs ACTIVE', all_active, 240)
        for vm, _, _, status in self.servers.values():
            if status == 'SHUTOFF':
                self.conn.compute.stop_server(vm)
        lab_cloud.wait_for('stopped VMs SHUTOFF', lambda: all(
            nova_servers(self.conn)[vm]['status'] == status
            for vm, _, _, status in self.servers.values()), 120)

    def _priority(self, name):
        for spec in self.cloud.get('servers', ()):
            if spec['name'] == name:
                return spec.get('priority', 0)
        return 0

    # -- steps ------------------------------------------------------------
    def ha_vms(self, host):
        return {vm: status for vm, on, ha, status in self.servers.values()
                if on == host and ha}

    def segment_hosts(self, host):
        segment = self.lab.layout.host(host).segment
        return {h.name for h in self.lab.layout.hosts
                if segment and h.segment == segment and h.name != host}

    def incidents(self, host):
        return self.history.list_incidents(host=host)

    def verdict(self, host, expect):
        incidents = self.incidents(host)
        records = (self.history.query(incident=incidents[-1].key)
                   if incidents else [])
        migrations = nova_migrations(self.conn)
        return recovery_invariants.judge(
            self.ha_vms(host), migrations, nova_servers(self.conn), records,
            incidents, self.segment_hosts(host), expect), records

    def step_fail(self, target, mode):
        failed = self.lab.fail(target, mode)
        now = time.time()
        for host in failed:
            self.failed_at.setdefault(host, now)
            if self.ha_vms(host) and host not in self.watchers:
                watcher = BackWatcher(lab_cloud.connect(self.lab.layout),
                                      host, self.ha_vms(host))
                watcher.start()
                self.watchers[host] = watcher
        self.say('fail %s (%s): %s' % (target, mode, ', '.join(failed)))

    def step_wait_incident(self, host, timeout='120'):
        """Until an incident of ``host`` opened since its failure is open
        (the moment a replica owns its recovery)."""
        since = self.failed_at.get(host, 0.0)
        lab_cloud.wait_for('an open incident of %s' % host, lambda: [
            i for i in self.history.list_incidents(host=host, open_only=True)
            if i.opened_at.timestamp() >= since], float(timeout), 0.2)

    def step_expect(self, host, outcome, _word, seconds):
        seconds = float(seconds)
        if outcome == 'disabled':
            self._judge_disabled(host, seconds)
            return
        if outcome == 'untouched':
            time.sleep(seconds)
            self._judge_untouched(host)
            return
        deadline = time.monotonic() + seconds
        while True:
            verdict, records = self.verdict(host, outcome)
            if verdict.ok or time.monotonic() > deadline:
                break
            time.sleep(1)
        vms = self.ha_vms(host)
        self.say('%s: %d HA VMs; incident %s; %d evacuations, %d duplicates,'
                 ' %d lost' % (host, len(vms),
                               'ok' if verdict.ok else 'NOT ' + outcome,
                               verdict.evacuations, verdict.duplicates,
                               verdict.lost))
        for violation in verdict.violations:
            self.say('VIOLATION %s: %s' % (host, violation))
        self._measure(host, records)

    def _judge_disabled(self, host, seconds):
        """Nova's compute service of ``host`` disabled (by the engine, on
        the monitor's process.down) within ``seconds``."""
        def disabled():
            service = lab_cloud.compute_services(self.conn).get(host)
            return service is not None and service.status == 'disabled'
        try:
            lab_cloud.wait_for('%s disabled' % host, disabled, seconds)
            self.say('%s: nova-compute disabled: ok' % host)
        except TimeoutError:
            self.say('%s: nova-compute disabled: NO' % host)

    def _judge_untouched(self, host):
        moved = [m for m in nova_migrations(self.conn)
                 if m['source_compute'] == host and
                 m['migration_type'] == recovery_invariants.EVACUATION and
                 m['instance_uuid'] in self.ha_vms(host)]
        since = self.failed_at.get(host, 0.0)
        fenced = [i for i in self.incidents(host)
                  if i.opened_at.timestamp() >= since and
                  i.state in ('fenced', 'evacuating', 'recovered')]
        self.say('%s: untouched: %s' % (
            host, 'ok' if not moved and not fenced else
            'NO (%d evacuations, %d fenced incidents)' % (
                len(moved), len(fenced))))
        if moved or fenced:
            self.say('VIOLATION %s: evacuated or fenced a live host' % host)

    def _measure(self, host, records):
        start = self.failed_at.get(host)
        if not start or not records:
            return
        marks = {}
        watcher = self.watchers.get(host)
        if watcher and watcher.back_at:
            marks['all HA VMs back'] = watcher.back_at - start
        for record in records:
            at = record.at.timestamp() - start
            if record.kind == 'transition':
                for state in ('confirming', 'fenced', 'evacuating',
                              'recovered', 'parked'):
                    if ('-> %s:' % state) in record.message:
                        marks.setdefault(state, at)
            marks.setdefault('detected', at)
        self.measures[host] = marks
        self.say('%s %s %s' % (MEASURED, host, ', '.join(
            '%s %.1f s' % item for item in sorted(marks.items(),
                                                  key=lambda i: i[1]))))

    def step_repair(self, host):
        self.lab.repair(host)
        self.say('repair %s' % host)

    # -- the whole run ------------------------------------------------------
    def play(self):
        self.reset()
        self.boot()
        non_ha = {vm: host for vm, host, ha, _ in self.servers.values()
                  if not ha}
        sampler = Sampler(self.lab)
        sampler.start()
        self.say('scenario %s: %d VMs booted' % (self.name,
                                                 len(self.servers)))
        try:
            for step in self.steps:
                verb, args = step[0], step[1:]
                if verb == 'wait':
                    time.sleep(float(args[0]))
                    continue
                getattr(self, 'step_' + verb.replace('-', '_'))(*args)
        finally:
            sampler.stop()
            for watcher in self.watchers.values():
                watcher.stop()
        servers = nova_servers(self.conn)
        migrations = nova_migrations(self.conn)
        reserved = {h.name for h in self.lab.layout.hosts if h.reserved}
        findings = (
            ['VIOLATION running twice: %s on %s' % (vm, ', '.join(hosts))
             for _, found in sampler.twice for vm, hosts in found] +
            ['VIOLATION ' + text
             for text in invariants.non_ha_moved(non_ha, servers)] +
            ['VIOLATION ' + text for text in invariants.reserved_intruders(
                servers, reserved, migrations)])
        self.say('never running twice: %s' % (
            'ok' if not sampler.twice else 'NO'))
        self.say('non-HA VMs not moved: %s' % (
            'ok' if not invariants.non_ha_moved(non_ha, servers) else 'NO'))
        self.say('reserved hosts hold only failovers: %s' % (
            'ok' if not invariants.reserved_intruders(
                servers, reserved, migrations) else 'NO'))
        for text in findings:
            self.say(text)
        self.say('%s ledger samples' % MEASURED + ' %d' % sampler.samples)
        clean = not any(line.startswith('VIOLATION') or ': NO' in line or
                        'NOT ' in line for line in self.report)
        self.say('invariant report: %s' % ('clean' if clean else 'VIOLATED'))
        return clean

    def compare(self):
        """Differences between this report and expected.report."""
        path = os.path.join(self.folder, 'expected.report')
        if not os.path.exists(path):
            return ['no expected.report']
        with open(path) as expected:
            want = [line.rstrip('\n') for line in expected
                    if not line.startswith(MEASURED)]
        got = [line for line in self.report if not line.startswith(MEASURED)]
        if want == got:
            return []
        return ['expected: %s' % line for line in want if line not in got] + \
            ['got: %s' % line for line in got if line not in want]


def main(lab, name):
    run = Run(lab, find(name))
    clean = run.play()
    differences = run.compare()
    for line in differences:
        print('report differs: ' + line, flush=True)
    return 0 if clean and not differences else 1
