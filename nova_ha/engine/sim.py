"""A simulated cloud on a virtual clock, behind the engine's environment.

It holds what the engine reads and acts on: Nova's compute services (with
their DB heartbeats and Nova's own down verdict), servers and migrations
that progress through Nova's real statuses on their own time, aggregates,
BMCs, the coordination heartbeats, the monitors' peer probes and
watchdogs, the shared history, leases with a TTL, and engine replicas.
Everything runs in one thread on a virtual clock, in a fixed order, so a
scenario replays the same way every time.

The world is adversarial where the real one can be:

- networks: each host has a management network (coordination, Nova,
  the bus) and a storage network (the peer probes), each direction of
  which can fail on its own, and single links between two hosts can be
  cut one way;
- the control plane: nova-api, conductor, RabbitMQ, Nova's database, the
  coordination backend (Redis) and the history database each stop and
  start on their own;
- BMCs: unreachable, refusing the credentials, slow, dead with their host,
  or lying (reporting a stale power state);
- engines: killed, restarted, cut from the coordination backend, paused
  (a garbage collector, a stalled VM: every thread stops, actions picked
  up after the pause check their lease again), clocks skewed;
- hosts' clocks skewed (the times in their peer views);
- Nova: an evacuation that fails after the guest was spawned on its
  destination (the guest keeps running there).

What really runs where is kept apart from what anyone reports: each host
has a ledger of the guests running on it, which the judge
(nova_ha.engine.judge) reads at every instant.

Nova's rules the simulation keeps (verified facts of Nova 34):
- an evacuation needs the source service down or forced down (400
  otherwise) and no task state (409); the API writes the migration
  (accepted) and task_state rebuilding before it answers;
- the host of the server changes when the rebuild finishes (migration
  done); a failure on the destination leaves the server on its source in
  ERROR and the migration failed; with microversion 2.94 the VM comes
  back running, later ones leave it stopped;
- a target is chosen inside the source's segment, reserved hosts first
  (rh_priority, the default), among enabled and up hosts with room; a
  host in no segment goes to another host in no segment.
"""

import dataclasses
import heapq
import itertools

from nova_ha.engine import core
from nova_ha.engine import env as engine_env
from nova_ha.engine import judge as sim_judge
from nova_ha.engine import model
from nova_ha.engine import replica as engine_replica
from nova_ha.engine import states
from nova_ha.fencing import base as fence_base
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.servicegroup import channels

MANAGEMENT = 'management'
STORAGE = 'storage'
NETWORKS = (MANAGEMENT, STORAGE)
TX, RX = 'tx', 'rx'

# Parts of the control plane that can stop.
NOVA_API = 'nova-api'
CONDUCTOR = 'conductor'
RABBIT = 'rabbit'
DATABASE = 'database'          # Nova's database
REDIS = 'redis'                # the coordination backend
HISTORY = 'history'            # nova-ha's history database
CONTROL_PLANE = (NOVA_API, CONDUCTOR, RABBIT, DATABASE, REDIS, HISTORY)
# The least time between two looks of one replica (a real loop never looks
# twice at the same instant).
MIN_GAP = 0.001
MAX_EVENTS_AT_ONE_INSTANT = 100000


class Livelock(Exception):
    """Virtual time stopped: something keeps acting at one instant."""


@dataclasses.dataclass
class Timings:
    report_interval: float = 10.0       # Nova's DB heartbeat
    service_down_time: float = 60.0     # Nova's down verdict
    liveness_down_time: float = 2.0     # the coordination heartbeat
    lease_ttl: float = 15.0
    bmc_latency: float = 0.2
    bmc_slow_latency: float = 8.0
    api_latency: float = 0.05
    # How long the engine waits for a BMC and for Nova (its timeouts; a
    # side effect starts only with this much of its lease left).
    bmc_timeout: float = 10.0
    api_timeout: float = 5.0
    schedule_time: float = 0.5          # accepted -> pre-migrating
    rebuild_time: float = 3.0           # pre-migrating -> done
    power_time: float = 1.0             # start / stop
    event_delay: float = 0.05
    # False: Nova leaves every evacuated VM stopped (microversion 2.95+).
    keep_running_honoured: bool = True
    # How long a monitor tries to restart a dead nova-compute before it
    # reports process.down (and the engine's process incident disables
    # it).
    process_report_after: float = 30.0
    # A host reset by its watchdog (not the software one) boots again.
    boot_time: float = 60.0
    # Nova's compute syncs a guest that died to SHUTOFF this long after
    # libvirt's lifecycle event (it delays stop events by 15 s).
    power_sync_delay: float = 15.0


@dataclasses.dataclass
class Host:
    name: str
    power: str = 'on'          # on | off
    hung: bool = False         # every process stopped; power stays on
    compute_running: bool = True
    # ok | unreachable | wrong_password | slow | stale (reads a frozen
    # power state, still obeys commands) | dead (went with the host)
    bmc: str = 'ok'
    bmc_dies_with_host: bool = False
    bmc_frozen_power: str = None
    capacity: int = 20
    # Nova's view of its nova-compute service.
    forced_down: bool = False
    disabled: bool = False
    disabled_reason: str = None
    # Failed directions: (network, 'tx' | 'rx').
    cut: set = dataclasses.field(default_factory=set)
    watchdog: str = None       # hardware | ipmi | softdog | software | None
    skew: float = 0.0          # its clock minus the true time
    beat_phase: float = 0.0    # when in report_interval it reports to Nova
    # Bookkeeping of the world (not what anyone reports).
    coord_stopped_at: float = None   # its coordination beat stopped
    nova_stopped_at: float = None    # its Nova DB beat stopped
    quorum_lost_at: float = None
    reset_by_watchdog: bool = False
    booting: bool = False            # reset by its watchdog, not yet up
    compute_died_at: float = None    # nova-compute dead on the live host
    process_down_at: float = None    # its monitor reported nova-compute dead
    libvirtd_running: bool = True
    libvirtd_reported: bool = False
    # Nova stamps a service's updated_at on every write of it (forced
    # down, disabled, enabled), not only on its heartbeats.
    service_written_at: float = None

    @property
    def up(self):
        """Its processes run (powered on, not frozen, not rebooting)."""
        return self.power == 'on' and not self.hung and not self.booting

    def sends(self, network):
        return self.up and (network, TX) not in self.cut

    def receives(self, network):
        return self.up and (network, RX) not in self.cut

    def both_ways(self, network):
        return self.sends(network) and self.receives(network)

    @property
    def isolated(self):
        return all((n, d) in self.cut for n in NETWORKS for d in (TX, RX))

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
    # Its owner stopped it (Nova's instance actions say so).
    user_stopped: bool = False
    # The next this many starts of its guest die within seconds.
    crash_at_boot: int = 0
    # Its guest died and nobody has run it since (the judge's record).
    crashed: bool = False


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

    def __init__(self, cloud, name, skew=0.0):
        self.cloud = cloud
        self.me = name
        self.skew = skew
        self.reports = []
        self.events = []
        self.cut_from_coordination = False
        # incident key -> expiry of our lease by our own clock, set before
        # each acquisition or renewal is asked (never later than the
        # backend's).
        self._expiry = {}
        # When the executor checked the action whose effect lands now.
        self.checked_at = None

    def clock(self):
        return self.cloud.now + self.skew

    def _up(self, part, what):
        if part in self.cloud.down:
            raise engine_env.Unavailable('%s not answering' % what)

    def _nova(self):
        self._up(NOVA_API, 'nova-api')
        self._up(DATABASE, "Nova's database")

    def _history(self):
        self._up(HISTORY, 'history database')

    def _coordination(self):
        if self.cut_from_coordination:
            raise engine_env.Unavailable('coordination backend unreachable')
        self._up(REDIS, 'coordination backend')

    # -- observe -------------------------------------------------------

    def compute_services(self):
        self._nova()
        now = self.clock()
        found = {}
        for host in self.cloud.hosts.values():
            beat = self.cloud.last_beat(host)
            updated = max(beat, host.service_written_at or beat)
            age = max(0.0, now - updated)
            found[host.name] = model.Service(
                host=host.name, id='svc-' + host.name,
                up=not host.forced_down and
                self.cloud.now - beat <= self.cloud.timings.service_down_time,
                forced_down=host.forced_down, disabled=host.disabled,
                disabled_reason=host.disabled_reason,
                heartbeat_age=age)
        return found

    def peer_views(self, hosts):
        self._coordination()
        return self.cloud.peer_views(hosts)

    def liveness(self):
        self._coordination()
        if not self.cloud.heartbeats:
            return {}     # no coordination heartbeats in this cloud
        return {h.name: self.cloud.liveness(h)
                for h in self.cloud.hosts.values()}

    def lost_at(self):
        self._coordination()
        if not self.cloud.heartbeats:
            return {}
        down = self.cloud.timings.liveness_down_time
        return {h.name: h.coord_stopped_at + down + self.skew
                for h in self.cloud.hosts.values()
                if self.cloud.liveness(h) == model.LOST}

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
                numbered = states.numbered(key)
                if seq >= latest.get(numbered, (0, None))[0]:
                    latest[numbered] = (seq, stored)
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

    def take_events(self):
        events, self.events = self.events, []
        return events

    def stopped_by_user(self, vm):
        self._nova()
        server = self.cloud.servers.get(vm)
        return bool(server and server.user_stopped)

    # -- leases ----------------------------------------------------------

    def _hold(self, key):
        self._expiry[key] = self.cloud.now + self.cloud.timings.lease_ttl

    def renew(self, key, token):
        self._coordination()
        expiry = self.cloud.now + self.cloud.timings.lease_ttl
        if self.cloud.leases.renew(key, self.me):
            self._expiry[key] = expiry
            return True
        return False

    def lease_free(self, key):
        """Nobody holds it, or this replica does without knowing the
        incident (its answer was lost): either way it may take it."""
        self._coordination()
        return self.cloud.leases.holder(key) in (None, self.me)

    def lease_valid(self, key, token, within=0.0):
        """Ours at this generation, with ``within`` seconds left by our
        own clock; a replica that cannot ask the backend or the history
        knows only its own expiry, which is not enough to act on."""
        if self._expiry.get(key, float('-inf')) - self.cloud.now < within:
            return False
        self._coordination()
        self._history()
        row = self.cloud.history.incidents.get(key)
        return self.cloud.leases.holder(key) == self.me and \
            row is not None and row['generation'] == token

    def lease_left(self, key):
        return max(0.0, self._expiry.get(key, float('-inf')) -
                   self.cloud.now)

    def side_effect_timeout(self, action):
        if isinstance(action, (model.Fence, model.ReadPower)):
            return self.cloud.timings.bmc_timeout
        return self.cloud.timings.api_timeout

    def open_incident(self, host, sequence, reason, kind=states.KIND,
                      subject=None, facts=None):
        self._history()
        self._coordination()
        key = states.key_for(host, sequence, kind, subject)
        history = self.cloud.history
        if key in history.incidents:
            return None
        expiry = self.cloud.now + self.cloud.timings.lease_ttl
        if not self.cloud.leases.acquire(key, self.me):
            return None
        self._expiry[key] = expiry
        now = self.clock()
        history.incidents[key] = {
            'key': key, 'host': host, 'state': states.TABLES[kind].initial,
            'opened_at': now, 'since': now, 'owner': self.me,
            'generation': 1, 'facts': dict(facts or {}), 'operator': {}}
        history.record('transition', '%s opened: %s' % (key, reason),
                       who=self.me, incident=key, token=1)
        return _stored(history.incidents[key])

    def take_over(self, key, generation):
        self._history()
        self._coordination()
        row = self.cloud.history.incidents.get(key)
        expiry = self.cloud.now + self.cloud.timings.lease_ttl
        if row is None or row['generation'] != generation or \
                not self.cloud.leases.acquire(key, self.me):
            return None
        self._expiry[key] = expiry
        row['generation'] += 1
        row['owner'] = self.me
        return _stored(row)

    def release(self, key):
        self._expiry.pop(key, None)
        if not self.cut_from_coordination and REDIS not in self.cloud.down:
            self.cloud.leases.release(key, self.me)

    # -- the history ---------------------------------------------------------

    def save(self, key, token, state, facts, records):
        self._history()
        row = self.cloud.history.incidents.get(key)
        if row is None or row['generation'] != token or \
                row['state'] == states.CLOSED:
            return False      # (an operator's close is final)
        for record in records:
            if isinstance(record, model.Note):
                self.note(record.kind, record.message, incident=key,
                          token=token, host=record.host,
                          instance=record.instance, outcome=record.outcome,
                          detail=record.detail)
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
                                  instance=instance, outcome=outcome,
                                  detail=detail)

    def clear_request(self, key, request, token):
        self._history()
        row = self.cloud.history.incidents.get(key)
        if row is not None and row['generation'] == token:
            row['operator'].pop(request, None)

    def relay(self, key, request, details):
        self._history()
        row = self.cloud.history.incidents.get(key)
        if row is None or _stored(row).closed:
            raise ValueError('incident %s is closed' % key)
        row['operator'][request] = {
            'who': 'nova-ha-monitor', 'at': self.clock(),
            'reason': ', '.join('%s %s' % item
                                for item in sorted(details.items()))}
        self.cloud.history.record('operator.' + request, 'relayed to the '
                                  'owner of %s by %s' % (key, self.me),
                                  who=self.me, incident=key)

    # -- side effects ------------------------------------------------------

    def read_power(self, host):
        return self.cloud.bmc_power(self.cloud.hosts[host])

    def fence(self, host):
        return self.cloud.fence(self.cloud.hosts[host], self.me,
                                self.checked_at)

    def force_down(self, host, service_id):
        self._nova()
        h = self.cloud.hosts[host]
        h.forced_down, h.service_written_at = True, self.cloud.now

    def disable(self, host, reason):
        self._nova()
        h = self.cloud.hosts[host]
        h.disabled, h.disabled_reason = True, reason
        h.service_written_at = self.cloud.now

    def evacuate(self, vm, keep_running):
        self._nova()
        return self.cloud.nova_evacuate(vm, keep_running, self.me,
                                        self.checked_at)

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

    def restart_vm(self, vm, how):
        self._nova()
        self.cloud.nova_restart(vm, how, self.me)

    def migrate_vm(self, vm):
        self._nova()
        self.cloud.nova_migrate(vm, self.me)

    def confirm_move(self, vm):
        self._nova()
        self.cloud.nova_confirm(vm)

    def enable(self, host):
        self._nova()
        h = self.cloud.hosts[host]
        h.disabled, h.disabled_reason = False, None
        h.service_written_at = self.cloud.now


def _stored(row):
    return model.StoredIncident(
        key=row['key'], host=row['host'], state=row['state'],
        opened_at=row['opened_at'], since=row['since'], owner=row['owner'],
        generation=row['generation'], facts=dict(row['facts']),
        operator=dict(row['operator']),
        closed=row['state'] not in states.table_of(row['key']).open)


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

    def release(self, key, who):
        if self.holder(key) == who:
            del self._held[key]

    def drop_all(self):
        self._held.clear()


class SimReplica:
    """An engine replica: the real loop on the simulated environment."""

    def __init__(self, cloud, name, settings, skew=0.0):
        self.cloud = cloud
        self.name = name.split('.')[0]
        self.env = SimEnv(cloud, name, skew)
        self.loop = engine_replica.Replica(self.env, settings, self._submit)
        self.alive = True
        self.next_wake = None
        self.paused_until = None
        self._requests_free = 0.0

    @property
    def paused(self):
        return self.paused_until is not None and \
            self.cloud.now < self.paused_until

    def _after_pause(self, fn, *args):
        """Run ``fn`` now, or when the pause ends (every thread of the
        process stops with it)."""
        if self.paused:
            self.cloud.at(self.paused_until, self._after_pause, fn, *args)
            return
        fn(*args)

    def _submit(self, action):
        self._after_pause(self._pick_up, action)

    def _pick_up(self, action):
        """The executor takes the action: its checks run now, then the
        request is on the wire for its latency; the answer comes then, or
        a timeout error at the action's timeout (the side effect may
        still land later, as a real server's does)."""
        if not self.alive:
            return      # died with its executor
        start = self.cloud.now
        latency = self.cloud.latency(action)
        if isinstance(action, model.Evacuate):
            # One request at a time (evacuation_request_workers = 1).
            start = max(self.cloud.now, self._requests_free)
            self._requests_free = start + latency
        self.cloud.at(start, self._send, action, latency)

    def _send(self, action, latency):
        if not self.alive:
            return
        if self.paused:
            self.cloud.at(self.paused_until, self._send, action, latency)
            return
        checked_at = self.cloud.now
        try:
            refused = engine_replica.check_action(self.env, action)
        except Exception as e:
            refused = engine_replica.StaleLease('%s: %s' % (
                type(e).__name__, e))
        if refused is not None:
            self._answer(model.Result(action, False, error='%s: %s' % (
                type(refused).__name__, refused)))
            return
        timeout = engine_replica.deadline_of(self.env, action)
        timed_out = timeout is not None and latency > timeout

        def land():
            self.env.checked_at = checked_at
            result = engine_replica.perform(self.env, action)
            self.env.checked_at = None
            if timed_out:
                return
            if isinstance(action, model.Evacuate):
                self.cloud.at(self.cloud.now + API_GAP, self._answer, result)
            else:
                self._answer(result)
        self.cloud.at(self.cloud.now + latency, land)
        if timed_out:
            self.cloud.at(self.cloud.now + timeout, self._answer,
                          model.Result(action, False, error='Timeout: no '
                                       'answer within %.1f s' % timeout))

    def _answer(self, result):
        if self.alive:
            self._after_pause(self._deliver, result)

    def _deliver(self, result):
        if self.alive:
            self.loop.deliver(result)
            self.cloud.wake(self.name)

    def tick(self):
        if not self.alive:
            return
        if self.paused:
            self.cloud.at(self.paused_until, self.tick)
            return
        now = self.env.clock()
        for _ in range(20):
            wake = self.loop.tick(now)
            if not self.loop.wants_another_look:
                break
        # A real loop's next look is never at the very instant of this
        # one; on a skewed clock the subtraction may round back to it.
        self.next_wake = max(wake - self.env.skew, self.cloud.now + MIN_GAP)
        self.cloud.at(self.next_wake, self._timer, self.next_wake)

    def _timer(self, wake):
        if self.alive and self.next_wake == wake:
            self.tick()

    def renew_while_waiting(self):
        """nova-ha-engine renews its leases every quarter of their TTL
        while it waits between looks (not while it is paused)."""
        if not self.alive:
            return
        if not self.paused:
            for key, incident in sorted(self.loop.state.incidents.items()):
                try:
                    self.env.renew(key, incident.token)
                except engine_env.Unavailable:
                    pass
        self.cloud.at(self.cloud.now + self.cloud.timings.lease_ttl / 4,
                      self.renew_while_waiting)


class SimCloud:
    def __init__(self, timings=None, settings=None, lost_after=300.0):
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
        self.engine_skews = {}
        self.down = set()          # parts of the control plane stopped
        self.heartbeats = True
        # {'timings': {timeout, quorum_timeout, feed_interval}}: monitors
        # probe their peers and feed their watchdogs.
        self.peer_probes = None
        # host -> the peers its monitor is configured with (default: the
        # other hosts of its segment, reserved ones included).
        self.monitor_peers = {}
        # (sender, receiver): one-way cuts of the storage link between two
        # hosts.
        self.blocked = set()
        # host -> peers whose old datagrams an attacker replays to it.
        self.replayed = {}
        # host -> the guests really running on it (vm ids).
        self.guests = {}
        # vm id -> the next evacuation of it fails after the spawn.
        self.fail_after_spawn = set()
        self._waiting_rebuilds = set()   # migration ids
        self.lines = []
        self._queue = []
        self._seq = itertools.count()
        self._wakes = set()
        self._bus_rules = []      # 'drop', 'duplicate'
        self._queued = []         # messages waiting for a consumer
        self.event_delay = self.timings.event_delay
        self._ids = itertools.count(1)
        self._consumer = itertools.count()
        # (observer, peer, 'answer' | 'contact') -> since when it has
        # been failing (None: working).
        self._pairs = {}
        self._pair_reports = {}    # (observer, peer) -> WatchdogReport
        self._last_views = {}      # observer -> its last published view
        self.judge = sim_judge.Judge(self, lost_after)

    # Compatibility with scripts that stop one part at a time.
    @property
    def nova_down(self):
        return NOVA_API in self.down

    @property
    def history_down(self):
        return HISTORY in self.down

    @property
    def violations(self):
        return self.judge.violations

    # -- the clock -----------------------------------------------------------

    def at(self, when, fn, *args):
        heapq.heappush(self._queue, (when, next(self._seq), fn, args))

    def run_until(self, until):
        same = 0
        while self._queue and self._queue[0][0] <= until:
            when, _, fn, args = heapq.heappop(self._queue)
            same = same + 1 if when <= self.now else 0
            if same > MAX_EVENTS_AT_ONE_INSTANT:
                # A loop that keeps scheduling itself now would hang the
                # run: a finding, not a wait.
                raise Livelock('more than %d events at %.3f s, the last %s'
                               % (MAX_EVENTS_AT_ONE_INSTANT, self.now,
                                  getattr(fn, '__qualname__', fn)))
            self.now = max(self.now, when)
            fn(*args)
            self.judge.check()
        self.now = max(self.now, until)
        self.judge.check()

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

    # -- heartbeats ------------------------------------------------------------

    def coordination_beats(self, host):
        """Its heartbeat reaches the coordination backend."""
        return host.sends(MANAGEMENT) and REDIS not in self.down

    def coordination_answers(self, host):
        """Its heartbeat reaches the backend and the answer comes back:
        what its own quorum counts."""
        return self.coordination_beats(host) and host.receives(MANAGEMENT)

    def nova_beats(self, host):
        """nova-compute writes Nova's DB heartbeat (through RabbitMQ and
        the conductor)."""
        return host.compute_running and host.sends(MANAGEMENT) and \
            not ({CONDUCTOR, RABBIT, DATABASE} & self.down)

    def last_beat(self, host):
        """When nova-compute on ``host`` last wrote Nova's heartbeat."""
        at = self.now if self.nova_beats(host) else host.nova_stopped_at
        if at is None:
            return 0.0
        # Its last report at or before ``at``, every report_interval.
        return at - ((at - host.beat_phase) % self.timings.report_interval)

    def liveness(self, host):
        if self.coordination_beats(host):
            return model.ALIVE
        if self.now - host.coord_stopped_at >= \
                self.timings.liveness_down_time:
            return model.LOST
        return model.ALIVE

    def healthy(self, host):
        """Nothing is wrong with ``host`` that a fence would cure, and
        the cloud can see it: powered, running, nova-compute alive, and
        reachable both ways on its management network, or (where the
        monitors probe their peers) answering a peer that is itself so
        reachable.  A host cut from every channel the cloud has is not
        healthy, whatever its guests do."""
        if not (host.up and host.compute_running and
                not host.reset_by_watchdog):
            return False
        if host.both_ways(MANAGEMENT):
            return True
        if not self.peer_probes:
            return False
        return any(self.answers(self.hosts[p], host) and
                   self.hosts[p].both_ways(MANAGEMENT)
                   for p in self.configured_peers(host.name)
                   if p in self.hosts)

    # -- the peer channel and the watchdogs ------------------------------------

    def configured_peers(self, host):
        if host in self.monitor_peers:
            return list(self.monitor_peers[host])
        return self.segment_peers(host)

    def segment_peers(self, host):
        for agg in self.aggregates:
            if ha_aggregates.SEGMENT_KEY in agg.metadata and \
                    host in agg.hosts:
                return [h for h in agg.hosts if h != host]
        return []

    def _link(self, sender, receiver):
        """A datagram from ``sender`` reaches ``receiver`` on the storage
        network."""
        return sender.sends(STORAGE) and receiver.receives(STORAGE) and \
            (sender.name, receiver.name) not in self.blocked

    def answers(self, observer, peer):
        """``peer`` answers ``observer``'s probes: both ways work."""
        return self._link(observer, peer) and self._link(peer, observer)

    def contact(self, observer, peer):
        """Anything of ``peer``'s reaches ``observer`` (its probes too),
        or an attacker replays its old datagrams there."""
        return self._link(peer, observer) or \
            peer.name in self.replayed.get(observer.name, ())

    def watchdog_report(self, host):
        if not self.armed(host):
            return None
        return channels.WatchdogReport(
            kind=host.watchdog, armed=True,
            peers=tuple(sorted(self.configured_peers(host.name))),
            **self.peer_probes['timings'])

    def armed(self, host):
        """Its monitor arms its watchdog: one is configured, and so are
        peers (the monitor refuses a watchdog fed on the coordination
        backend alone: an outage of the backend would reset every host)."""
        return bool(host.watchdog and self.peer_probes and
                    self.configured_peers(host.name))

    def _pair_ages(self, observer, peer):
        ages = {}
        for kind in ('answer', 'contact'):
            since = self._pairs.get((observer, peer, kind), 'never')
            if since is None:
                ages[kind] = 0.1
            elif since == 'never':
                ages[kind] = None
            else:
                ages[kind] = self.now - since
        return ages

    def peer_views(self, hosts):
        """What the monitors publish in the coordination backend: a
        monitor that reaches it publishes its view now; one that stopped
        reaching it left its last view there until its membership
        expires.  None when the cloud has no peer probes."""
        if not self.peer_probes:
            return None
        views = {}
        for name in sorted(hosts):
            observer = self.hosts.get(name)
            if observer is None:
                continue
            if not self.coordination_beats(observer):
                last = self._last_views.get(name)
                if last is not None and self.liveness(observer) == \
                        model.ALIVE:
                    views[name] = last
                continue
            heard, contact, watchdogs = {}, {}, {}
            for peer_name in self.configured_peers(name):
                ages = self._pair_ages(name, peer_name)
                heard[peer_name] = ages['answer']
                contact[peer_name] = ages['contact']
                report = self._pair_reports.get((name, peer_name))
                if report is not None:
                    watchdogs[peer_name] = report
            view = channels.PeerView(
                name, self.now + observer.skew, heard, watchdogs,
                self.watchdog_report(observer), contact=contact)
            self._last_views[name] = view
            views[name] = view
        return views

    def has_quorum(self, host):
        """The monitor's own quorum (channels.holds_quorum): its
        coordination heartbeat answered, a majority of its peers answered
        its own probes, or the peers that answer have lost the backend
        too."""
        if not host.up:
            return False
        peers = self.configured_peers(host.name)
        answered = {p: self.now for p in peers
                    if self.answers(host, self.hosts[p])}
        return channels.holds_quorum(
            peers, answered, self.now, 0.0,
            coordination_ok_at=self.now if self.coordination_answers(host)
            else None,
            backend_lost={p: not self.coordination_answers(self.hosts[p])
                          for p in answered})

    def changed(self):
        """After the world changed: heartbeats that stopped, who its peers
        still hear, whose watchdog stops being fed, what the monitors
        report."""
        for host in sorted(self.hosts.values(), key=lambda h: h.name):
            self._beats_changed(host)
        if self.peer_probes:
            for host in sorted(self.hosts.values(), key=lambda h: h.name):
                self._pairs_changed(host)
        for host in sorted(self.hosts.values(), key=lambda h: h.name):
            self._quorum_changed(host)

    def _beats_changed(self, host):
        if self.coordination_beats(host):
            host.coord_stopped_at = None
        elif host.coord_stopped_at is None:
            host.coord_stopped_at = self.now
            # The servicegroup watcher tells every replica once the
            # heartbeat is overdue (the coordination backend's down time).
            self.at(self.now + self.timings.liveness_down_time, self.wake_all)
        if self.nova_beats(host):
            host.nova_stopped_at = None
        elif host.nova_stopped_at is None:
            host.nova_stopped_at = self.now
        # nova-ha-monitor restarts a dead nova-compute; when it cannot, it
        # reports process.down (the engine opens a process incident), and
        # process.up once it runs again (after a reboot too).
        dead = host.up and not host.compute_running
        if not dead:
            host.compute_died_at = None
            if host.up and host.process_down_at is not None:
                host.process_down_at = None
                self.monitor_event(host, 'process_up', 'nova-compute',
                                   'running again')
        elif host.compute_died_at is None:
            host.compute_died_at = self.now
            self.at(self.now + self.timings.process_report_after,
                    self._monitor_reports, host, self.now)

    def _monitor_reports(self, host, died_at):
        if host.compute_died_at != died_at or host.process_down_at:
            return       # back meanwhile, or reported already
        host.process_down_at = self.now
        self.log('%s: nova-ha-monitor reports nova-compute dead' % host.name)
        self.monitor_event(host, 'process_down', 'nova-compute',
                           'gave up restarting it')

    def stop_libvirtd(self, host, stop):
        host.libvirtd_running = not stop
        if stop:
            self.at(self.now + self.timings.process_report_after,
                    self._libvirtd_reported, host)
        elif host.libvirtd_reported:
            host.libvirtd_reported = False
            self.monitor_event(host, 'process_up', 'libvirtd',
                               'running again')

    def _libvirtd_reported(self, host):
        if host.libvirtd_running or host.libvirtd_reported or not host.up:
            return
        host.libvirtd_reported = True
        self.log('%s: nova-ha-monitor reports libvirtd dead' % host.name)
        self.monitor_event(host, 'process_down', 'libvirtd',
                           'gave up restarting it')

    def monitor_event(self, host, kind, subject, cause):
        """A report of the host's nova-ha-monitor (a VM or a process
        failed, a process is back), kept in its outbox until the bus
        takes it."""
        if not host.up:
            return
        if RABBIT in self.down or not host.sends(MANAGEMENT):
            self.at(self.now + 5.0, self.monitor_event, host, kind, subject,
                    cause)
            return
        report = (kind, host.name, subject, cause)
        self._publish('%s %s %s' % (kind, subject, host.name),
                      lambda env: env.events.append(model.Report(
                          *report, at=env.clock())), droppable=False)

    def _pairs_changed(self, observer):
        for peer_name in self.configured_peers(observer.name):
            peer = self.hosts[peer_name]
            for kind, working in (
                    ('answer', self.answers(observer, peer)),
                    ('contact', self.contact(observer, peer))):
                key = (observer.name, peer_name, kind)
                if working:
                    self._pairs[key] = None
                elif self._pairs.get(key, 'never') is None:
                    self._pairs[key] = self.now
            if self.answers(observer, peer):
                report = self.watchdog_report(peer)
                if report is not None:
                    self._pair_reports[(observer.name, peer_name)] = report

    def _quorum_changed(self, host):
        if host.power != 'on':
            host.quorum_lost_at, host.reset_by_watchdog = None, False
            return
        if self.has_quorum(host):
            host.quorum_lost_at = None
        elif self.armed(host) and host.quorum_lost_at is None:
            host.quorum_lost_at = self.now
            t = self.peer_probes['timings']
            self.at(self.now + t['quorum_timeout'] + t['timeout'],
                    self._watchdog_fires, host, self.now)

    def _watchdog_fires(self, host, lost_at):
        if host.quorum_lost_at != lost_at or host.power != 'on':
            return        # quorum came back, or the host went off
        if host.watchdog == 'ipmi' and not self._bmc_alive(host):
            # The BMC's own watchdog goes with the BMC.
            self.log('%s: its ipmi watchdog died with its BMC' % host.name)
            return
        if host.hung and host.watchdog in ('softdog', 'software'):
            # A frozen kernel freezes softdog and the software watchdog.
            self.log('%s: its %s watchdog is frozen with it' % (
                host.name, host.watchdog))
            return
        host.reset_by_watchdog = True
        self.guests[host.name] = set()
        host.compute_running = False
        self.log('%s: its %s watchdog fired: the guests are gone' % (
            host.name, host.watchdog))
        if host.watchdog != 'software':
            # A reset: the host boots again (its networks as they are).
            host.booting = True
            self.at(self.now + self.timings.boot_time, self._booted, host,
                    self.now)
        else:
            # The software watchdog killed the guests and nova-compute,
            # which the monitor starts again.
            self.at(self.now + self.timings.process_report_after / 3,
                    self._booted, host, self.now)
        self.changed()

    def _booted(self, host, reset_at):
        if not host.reset_by_watchdog or host.power != 'on' or \
                host.hung and not host.booting:
            return        # powered off (or cycled, or frozen) meanwhile
        # A reboot ends a hang too.
        host.reset_by_watchdog = host.booting = host.hung = False
        host.compute_running = True
        host.quorum_lost_at = None
        # Nova's power sync finds the guests gone and stops them.
        for server in self.servers.values():
            if server.host == host.name and server.status == 'ACTIVE':
                server.status = 'SHUTOFF'
        self.log('%s: %s after its watchdog fired' % (
            host.name, 'nova-compute started again' if host.watchdog ==
            'software' else 'booted'))
        self.changed()
        self.wake_all()

    # -- BMCs ------------------------------------------------------------------

    def _bmc_alive(self, host):
        return host.bmc in ('ok', 'slow', 'stale')

    def bmc_power(self, host):
        if host.bmc == 'stale':
            return host.bmc_frozen_power or host.power
        if not self._bmc_alive(host):
            return 'unknown'
        return host.power

    def fence(self, host, who, checked_at=None):
        if host.bmc == 'unreachable' or host.bmc == 'dead':
            return _fence_result(host, 'failed', 'unknown',
                                 'BMC unreachable')
        if host.bmc == 'wrong_password':
            return _fence_result(host, 'failed', 'unknown',
                                 'the BMC refused the credentials')
        if self.bmc_power(host) == 'off':
            return _fence_result(host, 'already_off', 'off',
                                 'the BMC reports the host already off')
        self.judge.fenced(host, who, self.now if checked_at is None
                          else checked_at)
        self.power_off(host)
        return _fence_result(host, 'fenced', 'off',
                             'the BMC confirmed power off')

    def power_off(self, host):
        host.power = 'off'
        self.guests[host.name] = set()
        if host.bmc_dies_with_host:
            host.bmc = 'dead'
        self.changed()

    def power_on(self, host):
        host.power, host.hung, host.booting = 'on', False, False
        host.compute_running, host.reset_by_watchdog = True, False
        self.stop_libvirtd(host, False)
        if host.bmc == 'dead':
            host.bmc = 'ok'
        self.guests[host.name] = set()
        self.changed()
        self.wake_all()

    def latency(self, action):
        if isinstance(action, (model.Fence, model.ReadPower)):
            host = self.hosts[action.host]
            if host.bmc == 'slow':
                return self.timings.bmc_slow_latency
            return self.timings.bmc_latency
        return self.timings.api_latency

    # -- Nova ------------------------------------------------------------------

    def _rpc_works(self):
        return not ({CONDUCTOR, RABBIT, DATABASE} & self.down)

    def nova_evacuate(self, vm, keep_running, who, checked_at=None):
        server = self.servers[vm]
        source = self.hosts[server.host]
        age = self.now - self.last_beat(source)
        if not source.forced_down and \
                age <= self.timings.service_down_time:
            raise NovaRefused(400, 'compute service of %s is still in use'
                              % source.name)
        if server.task_state is not None:
            raise NovaRefused(409, 'task_state %s' % server.task_state)
        self.judge.evacuation_asked(server, source, self.now if checked_at
                                    is None else checked_at)
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
        if not self._rpc_works():
            # The conductor, the bus or the database is down: the request
            # waits in its queue.
            self.at(self.now + 1.0, self._schedule, migration, keep_running)
            return
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
        if not self._rpc_works():
            self.at(self.now + 1.0, self._rebuilt, migration, keep_running)
            return
        server = self.servers[migration.instance]
        if server.status == 'DELETED':
            # Deleted under the rebuild: Nova aborts it.
            self._update(migration, status='error')
            server.task_state = None
            self.log('nova: %s evacuation error: deleted' % server.name)
            self.notify_rebuild()
            return
        dest = self.hosts[migration.dest]
        if not (dest.up and dest.compute_running):
            # The destination's nova-compute died under the rebuild: the
            # request waits in its queue (the migration stays in flight)
            # and is carried out if it comes back.
            if migration.id not in self._waiting_rebuilds:
                self._waiting_rebuilds.add(migration.id)
                self.log('nova: %s rebuild on %s waits: its nova-compute '
                         'is gone' % (server.name, dest.name))
            self.at(self.now + 5.0, self._rebuilt, migration, keep_running)
            return
        running = keep_running and self.timings.keep_running_honoured
        if server.id in self.fail_after_spawn:
            # The guest was spawned on the destination, then the rebuild
            # failed: Nova leaves the server on its source in ERROR, and
            # the guest keeps running where it was spawned.
            self.fail_after_spawn.discard(server.id)
            self._update(migration, status='failed')
            server.task_state, server.status = None, 'ERROR'
            self._runs(server, migration.dest)
            self.log('nova: %s evacuation failed on %s after the guest was '
                     'spawned there' % (server.name, migration.dest))
            self.notify_rebuild()
            return
        migration = self._update(migration, status='done')
        server.host = migration.dest
        server.task_state = None
        server.status = 'ACTIVE' if running else 'SHUTOFF'
        if running:
            self._runs(server, migration.dest)
        self.log('nova: %s rebuilt on %s (%s)' % (
            server.name, migration.dest, server.status))
        self.notify_rebuild()

    def _choose_target(self, source, ordinary=False):
        """Where Nova's scheduler puts a VM of ``source``: an evacuation
        may use the segment's reserved hosts, an ``ordinary`` move not."""
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
                    not self.nova_beats(host) or host.forced_down:
                continue
            if used.get(host.name, 0) >= host.capacity:
                continue
            hv = ha_aggregates.host_view_of(self.aggregates, host.name)
            if ordinary and hv.reserved:
                continue
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
            ledger = self.guests.setdefault(server.host, set())
            if want == 'ACTIVE':
                self._runs(server, server.host)
            else:
                ledger.discard(server.id)
        self.at(self.now + self.timings.power_time, done)

    # -- VM failures: the guests, their owners and Nova's answers ------------

    def _runs(self, server, host):
        """The guest runs on ``host`` (a crash before is over)."""
        self.guests.setdefault(host, set()).add(server.id)
        server.crashed = False

    def crash(self, vm, cause):
        """The guest dies on its host; the host's monitor reports it (Nova
        still shows it ACTIVE until its power sync)."""
        server = self.servers[vm]
        host = self.hosts[server.host]
        running = self.guests.get(server.host, set())
        if server.id not in running or not host.up:
            return        # (a frozen host's guests are frozen too)
        running.discard(server.id)
        server.crashed = True
        self.log('%s: guest %s died (%s)' % (host.name, server.name, cause))
        self.monitor_event(host, 'vm_failure', server.id, cause)
        self.at(self.now + self.timings.power_sync_delay, self._power_sync,
                server)

    def _power_sync(self, server):
        host = self.hosts[server.host]
        if server.id in self.guests.get(server.host, ()) or \
                server.status != 'ACTIVE' or server.task_state or \
                not (host.up and host.compute_running and
                     host.both_ways(MANAGEMENT) and self._rpc_works()):
            return      # (a compute cut from Nova cannot tell it)
        server.status = 'SHUTOFF'
        self.log('nova: %s SHUTOFF (power state sync)' % server.name)

    def user_power(self, vm, on):
        """The VM's owner stops or starts it through Nova."""
        server = self.servers[vm]
        running = self.guests.setdefault(server.host, set())
        server.user_stopped = not on
        server.crashed = False
        server.status = 'ACTIVE' if on else 'SHUTOFF'
        if on:
            running.add(server.id)
        else:
            running.discard(server.id)
        self.log('nova: %s %s by its owner' % (
            server.name, 'started' if on else 'stopped'))

    def nova_restart(self, vm, how, who):
        server = self.servers[vm]
        if server.status == 'DELETED':
            raise NovaRefused(404, 'no server %s' % vm)
        if server.task_state is not None:
            raise NovaRefused(409, 'task_state %s' % server.task_state)
        server.task_state = 'powering-on' if how == 'start' \
            else 'rebooting_hard'
        self.log('nova: %s %s asked by %s' % (
            server.name, how.replace('_', ' '), who))
        self.at(self.now + self.timings.power_time, self._restarted, server,
                server.host, server.task_state)

    def _restarted(self, server, host_name, task):
        if server.host != host_name or server.task_state != task:
            return        # reset or moved meanwhile: the request is void
        host = self.hosts[server.host]
        if not (host.up and host.compute_running and host.libvirtd_running
                and self._rpc_works()):
            # Waits in the compute's queue (a dead host: for ever).
            self.at(self.now + 5.0, self._restarted, server, host_name, task)
            return
        server.task_state = None
        if server.status == 'DELETED':
            return
        server.status = 'ACTIVE'
        self._runs(server, server.host)
        self.log('nova: %s ACTIVE on %s' % (server.name, server.host))
        if server.crash_at_boot:
            server.crash_at_boot -= 1
            self.at(self.now + 0.5, self.crash, server.id, 'crash at boot')

    def nova_migrate(self, vm, who):
        server = self.servers[vm]
        if server.task_state is not None:
            raise NovaRefused(409, 'task_state %s' % server.task_state)
        server.task_state = 'resize_prep'
        self.log('nova: %s cold migration asked by %s' % (server.name, who))
        self.at(self.now + self.timings.schedule_time, self._cold_migrate,
                server, server.host)

    def _cold_migrate(self, server, source):
        if not self._rpc_works():
            self.at(self.now + 1.0, self._cold_migrate, server, source)
            return
        target = self._choose_target(source, ordinary=True)
        if target is None:
            server.task_state = None
            self.log('nova: %s migration error: no valid host' % server.name)
            return
        power_on = server.status != 'SHUTOFF'
        self.guests.setdefault(source, set()).discard(server.id)
        server.status, server.task_state = 'RESIZE', 'resize_migrating'
        self.at(self.now + self.timings.rebuild_time, self._migrated, server,
                target, power_on)

    def _migrated(self, server, target, power_on):
        dest = self.hosts[target]
        if not (dest.up and dest.compute_running and self._rpc_works()):
            self.at(self.now + 5.0, self._migrated, server, target, power_on)
            return
        server.host, server.status, server.task_state = \
            target, 'VERIFY_RESIZE', None
        if power_on:
            self._runs(server, target)
        self.log('nova: %s migrated to %s (VERIFY_RESIZE)' % (server.name,
                                                               target))

    def nova_confirm(self, vm):
        server = self.servers[vm]
        if server.status != 'VERIFY_RESIZE':
            raise NovaRefused(400, 'status %s' % server.status)
        running = server.id in self.guests.get(server.host, set())
        server.status = 'ACTIVE' if running else 'SHUTOFF'
        self.log('nova: %s migration confirmed (%s)' % (server.name,
                                                        server.status))

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
            name, count), self.settings, self.engine_skews.get(name, 0.0))
        self.engines[name] = engine
        self.wake(name)
        queued, self._queued = self._queued, []
        for put in queued:
            self.at(self.now + self.event_delay, self._deliver, put)
        self.at(self.now + self.timings.lease_ttl / 4,
                engine.renew_while_waiting)
        return engine

    def kill_engine(self, name):
        engine = self.engines.pop(name)
        engine.alive = False

    def publish(self, host, kind):
        """A host report ('down' or 'up') to one replica (competing
        consumers), through the bus's rules."""
        self._publish('report %s %s' % (kind, host),
                      lambda env: env.reports.append((host, kind,
                                                      env.clock())))

    def _publish(self, what, put, droppable=True):
        """``droppable``: the bus may lose it or deliver it twice (the
        rules of 'drop|duplicate next event'); a monitor's report of a VM
        or process failure is not lost once its outbox handed it over
        (the bus losing one then is a known limit, not played)."""
        if RABBIT in self.down:
            self.log('bus: %s lost (RabbitMQ down)' % what)
            return
        rule = self._bus_rules.pop(0) if self._bus_rules and droppable \
            else None
        if rule == 'drop':
            self.log('bus: %s dropped' % what)
            return
        copies = 2 if rule == 'duplicate' else 1
        for _ in range(copies):
            self.at(self.now + self.event_delay, self._deliver, put)

    def _deliver(self, put):
        """To one running replica (competing consumers); with none, the
        queue keeps the message until one starts."""
        names = sorted(self.engines)
        if not names:
            self._queued.append(put)
            return
        name = names[next(self._consumer) % len(names)]
        put(self.engines[name].env)
        self.wake(name)

    def notify_rebuild(self):
        """Nova's instance.rebuild.* notifications make every replica look
        (the one that owns the moves acts)."""
        if RABBIT not in self.down:
            self.at(self.now + self.event_delay, self.wake_all)

    def bus_rule(self, rule):
        self._bus_rules.append(rule)

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
