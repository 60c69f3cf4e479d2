"""A simulated cloud on a virtual clock, behind the engine's environment.

It holds what the engine reads and acts on: Nova's compute services (with
their DB heartbeats and Nova's own down verdict), servers and migrations
that progress through Nova's real statuses on their own time, aggregates,
BMCs (on, off, unreachable, wrong password, slow), the coordination
heartbeats, the shared history, leases with a TTL, and engine replicas
that can be killed, started and cut off from the coordination backend.
Events reach the replicas through a bus that can lose, delay or duplicate
them.  Everything runs in one thread on a virtual clock, in a fixed order,
so a scenario replays the same way every time.

Nova's rules the simulation keeps (verified facts of Nova 34):
- an evacuation needs the source service down or forced down (400
  otherwise) and no task state (409); the API writes the migration
  (accepted) and task_state rebuilding before it answers;
- the host of the server changes when the rebuild finishes (migration
  done); with microversion 2.94 the VM comes back running, later ones
  leave it stopped;
- a target is chosen inside the source's segment, reserved hosts first
  (rh_priority, the default), among enabled and up hosts with room.
"""

import dataclasses
import heapq
import itertools

from nova_ha.engine import core
from nova_ha.engine import env as engine_env
from nova_ha.engine import model
from nova_ha.engine import replica as engine_replica
from nova_ha.engine import states
from nova_ha.fencing import base as fence_base
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.servicegroup import channels


@dataclasses.dataclass
class Timings:
    report_interval: float = 10.0       # Nova's DB heartbeat
    service_down_time: float = 60.0     # Nova's down verdict
    liveness_down_time: float = 2.0     # the coordination heartbeat
    lease_ttl: float = 15.0
    bmc_latency: float = 0.2
    bmc_slow_latency: float = 20.0
    api_latency: float = 0.05
    schedule_time: float = 0.5          # accepted -> pre-migrating
    rebuild_time: float = 3.0           # pre-migrating -> done
    power_time: float = 1.0             # start / stop
    event_delay: float = 0.05
    # False: Nova leaves every evacuated VM stopped (microversion 2.95+).
    keep_running_honoured: bool = True


@dataclasses.dataclass
class Host:
    name: str
    power: str = 'on'          # on | off
    hung: bool = False
    isolated: bool = False     # cut from every network but its BMC's
    compute_running: bool = True
    bmc: str = 'ok'            # ok | unreachable | wrong_password | slow
    failed_at: float = None    # when it stopped heartbeating
    capacity: int = 20
    # Nova's view of its nova-compute service.
    forced_down: bool = False
    disabled: bool = False
    disabled_reason: str = None
    # One network cut: management (coordination and Nova) or storage
    # (the peer probes); "isolated" is both.
    management_cut: bool = False
    storage_cut: bool = False
    watchdog: str = None       # hardware | softdog | software | None
    peer_lost_at: float = None  # since when its peers cannot hear it
    quorum_lost_at: float = None
    reset_by_watchdog: bool = False

    @property
    def beating(self):
        return self.power == 'on' and not self.hung and \
            not self.isolated and not self.management_cut

    @property
    def probing(self):
        """Its monitor answers its peers' probes."""
        return self.power == 'on' and not self.hung and \
            not self.isolated and not self.storage_cut

    @property
    def guests_run(self):
        """Its guests may write to shared storage (a hung host's may
        resume at any moment)."""
        return self.power == 'on' and not self.reset_by_watchdog


@dataclasses.dataclass
class Server:
    id: str
    name: str
    host: str
    status: str = 'ACTIVE'
    task_state: str = None
    metadata: dict = dataclasses.field(default_factory=dict)


class SimHistory:
    """The shared history: incidents (with owner and generation) and
    records, on the virtual clock."""

    def __init__(self, cloud):
        self.cloud = cloud
        self.incidents = {}      # key -> dict
        self.records = []        # (at, kind, message, fields)

    def record(self, kind, message, **fields):
        self.records.append((self.cloud.now, kind, message, fields))
        self.cloud.log('%s [%s] %s' % (fields.get('who') or '-', kind,
                                       message))


class SimEnv(engine_env.Environment):
    """The environment of one replica in the simulated cloud."""

    def __init__(self, cloud, name):
        self.cloud = cloud
        self.me = name
        self.reports = []
        self.cut_from_coordination = False

    def _nova(self):
        if self.cloud.nova_down:
            raise engine_env.Unavailable('nova-api not answering')

    def _history(self):
        if self.cloud.history_down:
            raise engine_env.Unavailable('history database not answering')

    # -- observe -------------------------------------------------------

    def compute_services(self):
        self._nova()
        now = self.cloud.now
        found = {}
        for host in self.cloud.hosts.values():
            age = now - self.cloud.last_beat(host)
            found[host.name] = model.Service(
                host=host.name, id='svc-' + host.name,
                up=not host.forced_down and
                age <= self.cloud.timings.service_down_time,
                forced_down=host.forced_down, disabled=host.disabled,
                disabled_reason=host.disabled_reason,
                heartbeat_age=age)
        return found

    def peer_views(self, hosts):
        if self.cut_from_coordination:
            raise engine_env.Unavailable('coordination backend unreachable')
        return self.cloud.peer_views(hosts)

    def liveness(self):
        if self.cut_from_coordination:
            raise engine_env.Unavailable('coordination backend unreachable')
        if not self.cloud.heartbeats:
            return {}     # no coordination heartbeats in this cloud
        return {h.name: self.cloud.liveness(h)
                for h in self.cloud.hosts.values()}

    def aggregates(self):
        self._nova()
        return tuple(self.cloud.aggregates)

    def incidents(self):
        self._history()
        found = []
        latest = {}
        for key, row in sorted(self.cloud.history.incidents.items()):
            stored = _stored(row)
            if not stored.closed:
                found.append(stored)
            else:
                seq = states.sequence_of(key) or 0
                if seq >= latest.get(row['host'], (0, None))[0]:
                    latest[row['host']] = (seq, stored)
        return tuple(found + [s for _, s in sorted(latest.values(),
                                                   key=lambda p: p[1].key)])

    def servers_on(self, host):
        self._nova()
        return tuple(_server(s) for s in sorted(
            self.cloud.servers.values(), key=lambda s: s.id)
            if s.host == host and s.status != 'DELETED')

    def servers(self, vm_ids, host=None, since=None):
        self._nova()
        found = {}
        for vm in vm_ids:
            server = self.cloud.servers.get(vm)
            found[vm] = _server(server) if server else model.Server(
                vm, '', None, 'DELETED')
        return found

    def migrations(self, vm_ids, host=None, since=None):
        self._nova()
        wanted = set(vm_ids)
        found = {vm: [] for vm in wanted}
        for m in self.cloud.migrations:
            if m.instance in wanted:
                found[m.instance].append(m)
        return {vm: tuple(ms) for vm, ms in found.items()}

    def take_reports(self):
        reports, self.reports = self.reports, []
        return reports

    # -- leases ----------------------------------------------------------

    def _coordination(self):
        if self.cut_from_coordination:
            raise engine_env.Unavailable('coordination backend unreachable')

    def renew(self, key, token):
        self._coordination()
        return self.cloud.leases.renew(key, self.me)

    def lease_free(self, key):
        """Nobody holds it, or this replica does without knowing the
        incident (its answer was lost): either way it may take it."""
        self._coordination()
        return self.cloud.leases.holder(key) in (None, self.me)

    def lease_valid(self, key, token):
        if self.cut_from_coordination:
            return self.cloud.leases.valid_locally(key, self.me)
        row = self.cloud.history.incidents.get(key)
        return self.cloud.leases.holder(key) == self.me and \
            row is not None and row['generation'] == token

    def open_incident(self, host, sequence, reason):
        self._history()
        self._coordination()
        key = states.key_for(host, sequence)
        history = self.cloud.history
        if key in history.incidents:
            return None
        if not self.cloud.leases.acquire(key, self.me):
            return None
        now = self.cloud.now
        history.incidents[key] = {
            'key': key, 'host': host, 'state': states.DETECTED,
            'opened_at': now, 'since': now, 'owner': self.me,
            'generation': 1, 'facts': {}, 'operator': {}}
        history.record('transition', '%s opened: %s' % (key, reason),
                       who=self.me, incident=key, token=1)
        return _stored(history.incidents[key])

    def take_over(self, key, generation):
        self._history()
        self._coordination()
        row = self.cloud.history.incidents.get(key)
        if row is None or row['generation'] != generation or \
                not self.cloud.leases.acquire(key, self.me):
            return None
        row['generation'] += 1
        row['owner'] = self.me
        return _stored(row)

    def release(self, key):
        self.cloud.leases.release(key, self.me)

    # -- the history ---------------------------------------------------------

    def save(self, key, token, state, facts, records):
        self._history()
        row = self.cloud.history.incidents.get(key)
        if row is None or row['generation'] != token:
            return False
        for record in records:
            if isinstance(record, model.Note):
                self.note(record.kind, record.message, incident=key,
                          token=token, host=record.host,
                          instance=record.instance, outcome=record.outcome)
            else:
                self.cloud.history.record('transition', record.line(),
                                          who=self.me, incident=key,
                                          token=token)
        row.update(state=state, facts=dict(facts))
        moved = [r for r in records if not isinstance(r, model.Note)]
        if moved:
            row['since'] = moved[-1].at
        return True

    def note(self, kind, message, *, incident=None, token=0, host=None,
             instance=None, outcome=None, detail=None):
        self._history()
        self.cloud.history.record(kind, message, who=self.me,
                                  incident=incident, token=token, host=host,
                                  instance=instance, outcome=outcome)

    def clear_request(self, key, request, token):
        self._history()
        row = self.cloud.history.incidents.get(key)
        if row is not None and row['generation'] == token:
            row['operator'].pop(request, None)

    # -- side effects ------------------------------------------------------

    def read_power(self, host):
        return self.cloud.bmc_power(self.cloud.hosts[host])

    def fence(self, host):
        return self.cloud.fence(self.cloud.hosts[host])

    def force_down(self, host, service_id):
        self._nova()
        self.cloud.hosts[host].forced_down = True

    def disable(self, host, reason):
        self._nova()
        h = self.cloud.hosts[host]
        h.disabled, h.disabled_reason = True, reason

    def evacuate(self, vm, keep_running):
        self._nova()
        return self.cloud.nova_evacuate(vm, keep_running, self.me)

    def reset_stale_task(self, vm, source, task_state, to_state):
        self._nova()
        server = self.cloud.servers[vm]
        if server.host != source or server.task_state != task_state:
            return 'changed since it was read'
        moving = [m for m in self.cloud.migrations if m.instance == vm and
                  m.status in model.MIGRATION_IN_FLIGHT]
        if moving:
            return 'a move is in flight (%s)' % moving[-1].status
        server.task_state = None
        server.status = 'ERROR' if to_state == 'error' else server.status
        self.cloud.log('nova: %s task %s reset by %s' % (
            server.name, task_state, self.me))
        return 'reset'

    def set_power(self, vm, want):
        self._nova()
        self.cloud.nova_set_power(vm, want)

    def release_reserved(self, host, aggregate):
        self._nova()
        self.cloud.remove_from_aggregate(host, aggregate)


def _stored(row):
    return model.StoredIncident(
        key=row['key'], host=row['host'], state=row['state'],
        opened_at=row['opened_at'], since=row['since'], owner=row['owner'],
        generation=row['generation'], facts=dict(row['facts']),
        operator=dict(row['operator']),
        closed=row['state'] not in states.OPEN)


def _server(s):
    return model.Server(s.id, s.name, s.host, s.status, s.task_state,
                        dict(s.metadata))


# Between an evacuation's task state and its migration record, and until
# the API answers (seconds).
API_GAP = 0.02


class Leases:
    """Leases with a TTL on the virtual clock (the coordination backend)."""

    def __init__(self, cloud):
        self.cloud = cloud
        self._held = {}          # key -> (holder, expires)

    def holder(self, key):
        held = self._held.get(key)
        if held is None or held[1] <= self.cloud.now:
            return None
        return held[0]

    def acquire(self, key, who):
        if self.holder(key) not in (None, who):
            return False
        self._held[key] = (who, self.cloud.now + self.cloud.timings.lease_ttl)
        return True

    def renew(self, key, who):
        if self.holder(key) != who:
            return False
        self._held[key] = (who, self.cloud.now + self.cloud.timings.lease_ttl)
        return True

    def valid_locally(self, key, who):
        """What a replica cut off from the backend can still know: its
        lease stands until the expiry it last set."""
        return self.holder(key) == who

    def release(self, key, who):
        if self.holder(key) == who:
            del self._held[key]

    def drop_all(self):
        self._held.clear()


class SimReplica:
    """An engine replica: the real loop on the simulated environment."""

    def __init__(self, cloud, name, settings):
        self.cloud = cloud
        self.name = name.split('.')[0]
        self.env = SimEnv(cloud, name)
        self.loop = engine_replica.Replica(self.env, settings, self._submit)
        self.alive = True
        self.next_wake = None
        self._requests_free = 0.0

    def _submit(self, action):
        latency = self.cloud.latency(action)
        if isinstance(action, model.Evacuate):
            # One request at a time (evacuation_request_workers = 1).
            start = max(self.cloud.now, self._requests_free)
            self._requests_free = start + latency
            latency = self._requests_free - self.cloud.now

        def run():
            if not self.alive:
                return      # died with its executor
            result = engine_replica.run_action(self.env, action)
            if isinstance(action, model.Evacuate):
                self.cloud.at(self.cloud.now + API_GAP, answer, result)
            else:
                answer(result)

        def answer(result):
            if self.alive:
                self.loop.deliver(result)
                self.cloud.wake(self.name)
        self.cloud.at(self.cloud.now + latency, run)

    def tick(self):
        if not self.alive:
            return
        for _ in range(20):
            wake = self.loop.tick(self.cloud.now)
            if not self.loop.wants_another_look:
                break
        self.next_wake = wake
        self.cloud.at(wake, self._timer, wake)

    def _timer(self, wake):
        if self.alive and self.next_wake == wake:
            self.tick()


class SimCloud:
    def __init__(self, timings=None, settings=None):
        self.timings = timings or Timings()
        self.settings = settings or core.Settings()
        self.now = 0.0
        self.hosts = {}
        self.servers = {}
        self.migrations = []
        self.aggregates = []
        self.history = SimHistory(self)
        self.leases = Leases(self)
        self.engines = {}
        self._incarnations = {}
        self.nova_down = False
        self.history_down = False
        self.heartbeats = True
        # {'timings': {timeout, quorum_timeout, feed_interval}}: monitors
        # probe their segment peers and feed their watchdogs.
        self.peer_probes = None
        self.lines = []
        self.violations = []
        self._queue = []
        self._seq = itertools.count()
        self._wakes = set()
        self._bus_rules = []      # 'drop', 'duplicate'
        self.event_delay = self.timings.event_delay
        self._ids = itertools.count(1)
        self._consumer = itertools.count()

    # -- the clock -----------------------------------------------------------

    def at(self, when, fn, *args):
        heapq.heappush(self._queue, (when, next(self._seq), fn, args))

    def run_until(self, until):
        while self._queue and self._queue[0][0] <= until:
            when, _, fn, args = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            fn(*args)
            self._check_invariants()
        self.now = max(self.now, until)

    def wake(self, name):
        """Tick a replica at the current instant (once per instant)."""
        if (self.now, name) in self._wakes:
            return
        self._wakes.add((self.now, name))
        engine = self.engines.get(name)
        if engine is not None:
            self.at(self.now, engine.tick)

    def wake_all(self):
        for name in sorted(self.engines):
            self.wake(name)

    def log(self, text):
        self.lines.append('%7.1f %s' % (self.now, text))

    # -- the world -----------------------------------------------------------

    def last_beat(self, host):
        """When nova-compute on ``host`` last wrote Nova's heartbeat."""
        if host.beating and host.compute_running:
            return self.now - (self.now % self.timings.report_interval)
        return host.failed_at if host.failed_at is not None else 0.0

    def liveness(self, host):
        if host.beating:
            return model.ALIVE
        if self.now - host.failed_at >= self.timings.liveness_down_time:
            return model.LOST
        return model.ALIVE

    # -- the peer channel and the watchdogs ------------------------------------

    def segment_peers(self, host):
        for agg in self.aggregates:
            if ha_aggregates.SEGMENT_KEY in agg.metadata and \
                    host in agg.hosts:
                return [h for h in agg.hosts if h != host]
        return []

    def watchdog_report(self, host):
        if not host.watchdog or not self.peer_probes:
            return None
        return channels.WatchdogReport(kind=host.watchdog, armed=True,
                                       **self.peer_probes['timings'])

    def peer_views(self, hosts):
        """What the monitors that reach the coordination backend
        publish (None when the cloud has no peer probes)."""
        if not self.peer_probes:
            return None
        views = {}
        for name in sorted(hosts):
            observer = self.hosts.get(name)
            if observer is None or not observer.beating:
                continue
            heard, watchdogs = {}, {}
            for peer_name in self.segment_peers(name):
                peer = self.hosts[peer_name]
                if observer.probing and peer.probing:
                    heard[peer_name] = 0.1
                else:
                    lost = max(t for t in (peer.peer_lost_at,
                                           observer.peer_lost_at)
                               if t is not None)
                    heard[peer_name] = self.now - lost
                report = self.watchdog_report(peer)
                if report is not None:
                    watchdogs[peer_name] = report
            views[name] = channels.PeerView(
                name, self.now, heard, watchdogs,
                self.watchdog_report(observer))
        return views

    def has_quorum(self, host):
        if host.beating:
            return True
        if not host.probing:
            return False
        peers = self.segment_peers(host.name)
        hearing = sum(1 for p in peers if self.hosts[p].probing)
        return bool(peers) and hearing >= channels.majority(len(peers))

    def changed(self):
        """After a host's power or networks changed: who its peers still
        hear, and whose watchdog stops being fed."""
        for host in sorted(self.hosts.values(), key=lambda h: h.name):
            if host.probing:
                host.peer_lost_at = None
            elif host.peer_lost_at is None:
                host.peer_lost_at = self.now
            if host.power != 'on':
                host.quorum_lost_at, host.reset_by_watchdog = None, False
                continue
            if self.has_quorum(host):
                host.quorum_lost_at = None
            elif host.watchdog and host.quorum_lost_at is None:
                host.quorum_lost_at = self.now
                t = self.peer_probes['timings']
                self.at(self.now + t['quorum_timeout'] + t['timeout'],
                        self._watchdog_fires, host, self.now)

    def _watchdog_fires(self, host, lost_at):
        if host.quorum_lost_at != lost_at or host.power != 'on':
            return        # quorum came back, or the host went off
        if host.hung and host.watchdog != 'hardware':
            # A frozen kernel freezes softdog and the software watchdog.
            self.log('%s: its %s watchdog is frozen with it' % (
                host.name, host.watchdog))
            return
        host.reset_by_watchdog = True
        self.log('%s: its %s watchdog fired: the guests are gone' % (
            host.name, host.watchdog))

    def bmc_power(self, host):
        if host.bmc != 'ok' and host.bmc != 'slow':
            return 'unknown'
        return host.power

    def fence(self, host):
        if host.bmc == 'unreachable':
            return _fence_result(host, 'failed', 'unknown',
                                 'BMC unreachable')
        if host.bmc == 'wrong_password':
            return _fence_result(host, 'failed', 'unknown',
                                 'the BMC refused the credentials')
        if host.power == 'off':
            return _fence_result(host, 'already_off', 'off',
                                 'the BMC reports the host already off')
        self.power_off(host)
        return _fence_result(host, 'fenced', 'off',
                             'the BMC confirmed power off')

    def power_off(self, host):
        if host.beating:
            host.failed_at = self.now
        host.power = 'off'
        self.changed()
        self.at(self.now + self.timings.liveness_down_time, self.wake_all)

    def latency(self, action):
        if isinstance(action, (model.Fence, model.ReadPower)):
            host = self.hosts[action.host]
            if host.bmc == 'slow':
                return self.timings.bmc_slow_latency
            return self.timings.bmc_latency
        return self.timings.api_latency

    # -- Nova ------------------------------------------------------------------

    def nova_evacuate(self, vm, keep_running, who):
        server = self.servers[vm]
        source = self.hosts[server.host]
        age = self.now - self.last_beat(source)
        if not source.forced_down and \
                age <= self.timings.service_down_time:
            raise NovaRefused(400, 'compute service of %s is still in use'
                              % source.name)
        if server.task_state is not None:
            raise NovaRefused(409, 'task_state %s' % server.task_state)
        fenced = [r for r in self.history.records
                  if r[1] == 'transition' and
                  (r[3].get('incident') or '').startswith(
                      states.key_for(source.name, 0)[:-1]) and
                  ' -> fenced:' in r[2]]
        if not fenced:
            self.violations.append('%s evacuated from %s with no fence '
                                   'proof in the history' % (
                                       server.name, source.name))
        # As Nova's API does: the task state first, the migration record a
        # moment later, and only then the answer (API_GAP).
        server.task_state = 'rebuilding'
        migration = model.Migration(
            'mig-%d' % next(self._ids), vm, 'evacuation', 'accepted',
            source.name, None, self.now)

        def record():
            self.migrations.append(migration)
            self.log('nova: %s evacuation accepted (asked by %s)' % (
                server.name, who))
            self.at(self.now + self.timings.schedule_time, self._schedule,
                    migration, keep_running)
        self.at(self.now + API_GAP / 2, record)
        return migration.id

    def _update(self, migration, **changes):
        index = self.migrations.index(migration)
        changed = dataclasses.replace(migration, **changes)
        self.migrations[index] = changed
        return changed

    def _schedule(self, migration, keep_running):
        server = self.servers[migration.instance]
        target = self._choose_target(migration.source)
        if target is None:
            self._update(migration, status='error')
            server.task_state = None
            self.log('nova: %s evacuation error: no valid host' % (
                server.name))
            self.notify_rebuild()
            return
        migration = self._update(migration, status='pre-migrating',
                                 dest=target)
        self.at(self.now + self.timings.rebuild_time, self._rebuilt,
                migration, keep_running)

    def _rebuilt(self, migration, keep_running):
        server = self.servers[migration.instance]
        if server.status == 'DELETED':
            # Deleted under the rebuild: Nova aborts it.
            self._update(migration, status='error')
            server.task_state = None
            self.log('nova: %s evacuation error: deleted' % server.name)
            self.notify_rebuild()
            return
        migration = self._update(migration, status='done')
        source = self.hosts[migration.source]
        if source.guests_run:
            self.violations.append(
                '%s runs twice: on %s (powered on) and on %s' % (
                    server.name, source.name, migration.dest))
        server.host = migration.dest
        server.task_state = None
        server.status = 'ACTIVE' if keep_running and \
            self.timings.keep_running_honoured else 'SHUTOFF'
        self.log('nova: %s rebuilt on %s (%s)' % (
            server.name, migration.dest, server.status))
        self.notify_rebuild()

    def _choose_target(self, source):
        view = ha_aggregates.host_view_of(self.aggregates, source)
        used = {}
        for s in self.servers.values():
            if s.status != 'DELETED':
                used[s.host] = used.get(s.host, 0) + 1
        for m in self.migrations:      # claims of rebuilds under way
            if m.status == 'pre-migrating':
                used[m.dest] = used.get(m.dest, 0) + 1
        candidates = []
        for host in sorted(self.hosts.values(), key=lambda h: h.name):
            if host.name == source or host.disabled or \
                    not host.beating or host.forced_down:
                continue
            if used.get(host.name, 0) >= host.capacity:
                continue
            hv = ha_aggregates.host_view_of(self.aggregates, host.name)
            if view.segment is not None and \
                    hv.segment_name != view.segment.name:
                continue
            if view.segment is None and hv.segment is not None:
                continue
            rank = 0 if hv.reserved else 1
            if view.segment is not None:
                method = view.segment.recovery_method
                if hv.reserved and not method.uses_reserved_hosts or \
                        not hv.reserved and not method.uses_ordinary_hosts:
                    continue
                if not method.prefers_reserved_hosts:
                    rank = 1 - rank
            candidates.append((rank, used.get(host.name, 0), host.name))
        return min(candidates)[2] if candidates else None

    def nova_set_power(self, vm, want):
        server = self.servers[vm]
        if want == 'ERROR':
            server.status = 'ERROR'
            return
        if server.task_state is not None:
            raise NovaRefused(409, 'task_state %s' % server.task_state)
        server.task_state = 'powering-on' if want == 'ACTIVE' \
            else 'powering-off'

        def done():
            server.task_state = None
            server.status = want
        self.at(self.now + self.timings.power_time, done)

    def remove_from_aggregate(self, host, aggregate_id):
        for i, agg in enumerate(self.aggregates):
            if agg.id == aggregate_id and host in agg.hosts:
                self.aggregates[i] = dataclasses.replace(
                    agg, hosts=tuple(h for h in agg.hosts if h != host))
                self.log('nova: %s removed from aggregate %s' % (
                    host, agg.name))

    # -- engines and the bus ----------------------------------------------------

    def start_engine(self, name):
        # A restarted process is a new member of the coordination group:
        # it holds none of the leases its previous life held.
        self._incarnations[name] = self._incarnations.get(name, 0) + 1
        count = self._incarnations[name]
        engine = SimReplica(self, name if count == 1 else '%s.%d' % (
            name, count), self.settings)
        self.engines[name] = engine
        self.wake(name)
        return engine

    def kill_engine(self, name):
        engine = self.engines.pop(name)
        engine.alive = False

    def publish(self, host, kind):
        """A host report ('down' or 'up') to one replica (competing
        consumers), through the bus's rules."""
        rule = self._bus_rules.pop(0) if self._bus_rules else None
        if rule == 'drop':
            self.log('bus: report %s %s dropped' % (kind, host))
            return
        copies = 2 if rule == 'duplicate' else 1
        names = sorted(self.engines)
        if not names:
            return
        for _ in range(copies):
            name = names[next(self._consumer) % len(names)]

            def deliver(name=name):
                engine = self.engines.get(name)
                if engine is not None:
                    engine.env.reports.append((host, kind, self.now))
                    self.wake(name)
            self.at(self.now + self.event_delay, deliver)

    def notify_rebuild(self):
        """Nova's instance.rebuild.* notifications make every replica look
        (the one that owns the moves acts)."""
        self.at(self.now + self.event_delay, self.wake_all)

    def bus_rule(self, rule):
        self._bus_rules.append(rule)

    # -- invariants -------------------------------------------------------------

    def _check_invariants(self):
        pass

    def evacuations(self, vm):
        return [m for m in self.migrations if m.instance == vm and
                m.type == 'evacuation']


class NovaRefused(Exception):
    def __init__(self, status, text):
        self.status = status
        super().__init__('HTTP %d: %s' % (status, text))


def _fence_result(host, outcome, power, detail):
    return fence_base.FenceResult(
        host=host.name, driver='simulated',
        outcome=fence_base.FenceOutcome(outcome),
        power_state=fence_base.PowerState(power), detail=detail,
        elapsed_s=0.2, attempts=1)
