"""The simulator's strict judge: the promise, checked at every instant.

It reads what really happens in the simulated world (each host's ledger
of running guests, its power, its health) and the history only for what
an operator would see; never the engine's opinion of itself.

==============  ==============================================================
violation       when
==============  ==============================================================
twice           a VM's guest runs on two hosts that are powered on (a hung
                host's guests count: they may resume at any moment)
healthy_fenced  a fence powered off a host that was healthy (powered,
                running, nova-compute alive, and seen by the cloud: its
                management network works both ways, or a peer so reachable
                hears it) continuously since before the executor picked
                the fence up
no_proof        Nova was asked to evacuate a VM from a host whose incident
                has no fence proof in the history
contradicted    Nova was asked to evacuate a VM on an operator's false
                attestation (the host was not dead when it was made)
                after the host had shown the cloud it lived (before the
                executor picked the request up); acted on before any such
                sign, the attestation is the operator's decision, and a
                VM it runs twice is not counted
lost            an HA VM stayed on a dead host (off, hung, or reset by its
                watchdog), or its guest stayed dead on a live one (its
                owner did not stop it), for ``lost_after`` seconds (counted
                again from
                the end of each excuse) with no excuse an
                operator can see: its host's incident parked, held by the
                operator's own choice (maintenance, a segment turned off)
                or with an alert,
                closed by an operator during this failure of the host (not
                an earlier one), or an alert about the host's incidents or
                the VM since it was stranded (informational alerts, such
                as a quarantine whose VMs are still recovered, excuse
                nothing)
==============  ==============================================================

Each violation is reported once per VM (or fence) with the time it began.
"""

from nova_ha.engine import model
from nova_ha.engine import states
from nova_ha.model import aggregates as ha_aggregates

TWICE = 'twice'
HEALTHY_FENCED = 'healthy_fenced'
NO_PROOF = 'no_proof'
LOST = 'lost'
CONTRADICTED = 'contradicted'
KINDS = (TWICE, HEALTHY_FENCED, NO_PROOF, LOST, CONTRADICTED)
# Alerts that tell an operator something while the VMs are still being
# recovered: no excuse for one that is not.
INFORMATIONAL = ('quarantined', 'peers_differ', 'control_plane_outage')


class Judge:

    def __init__(self, cloud, lost_after=300.0):
        self.cloud = cloud
        self.lost_after = lost_after
        self.found = []           # (kind, text)
        self._twice = set()
        self._lost = set()
        self._stranded = {}       # vm id -> since
        self._healthy_since = {}  # host -> since (absent: not healthy)
        self._false_attestations = {}   # host -> [contradicted since]
        self._operators_twice = set()   # VMs run twice on a false word
        self._failing_since = {}  # host -> since (absent: healthy)

    @property
    def violations(self):
        return [text for _, text in self.found]

    def kinds(self):
        return sorted({kind for kind, _ in self.found})

    def _violation(self, kind, text):
        self.found.append((kind, text))
        self.cloud.log('VIOLATION %s: %s' % (kind, text))

    # -- at every instant --------------------------------------------------------

    def attested(self, host):
        """An operator attested ``host`` powered off (false while its
        guests may run: powered, even hung)."""
        if host.guests_run:
            self._false_attestations[host.name] = [None]

    def check(self):
        cloud = self.cloud
        now = cloud.now
        for name, contradicted in list(self._false_attestations.items()):
            host = cloud.hosts[name]
            if host.power != 'on':
                # Powered off since: the attestation has become true.
                del self._false_attestations[name]
                continue
            if contradicted[0] is None and host.up and (
                    cloud.coordination_beats(host) or cloud.healthy(host)):
                contradicted[0] = now
        for host in cloud.hosts.values():
            if cloud.healthy(host):
                self._healthy_since.setdefault(host.name, now)
                self._failing_since.pop(host.name, None)
            else:
                self._healthy_since.pop(host.name, None)
                self._failing_since.setdefault(host.name, now)
        self._check_twice()
        self._check_stranded(now)

    def _check_twice(self):
        where = {}
        for name, guests in self.cloud.guests.items():
            host = self.cloud.hosts.get(name)
            if host is None or not host.guests_run:
                continue
            for vm in guests:
                where.setdefault(vm, []).append(name)
        for vm, hosts in sorted(where.items()):
            if vm in self._operators_twice:
                continue
            if len(hosts) > 1 and vm not in self._twice:
                self._twice.add(vm)
                self._violation(TWICE, '%s runs on %s at once' % (
                    self._name(vm), ' and '.join(sorted(hosts))))

    def _name(self, vm):
        server = self.cloud.servers.get(vm)
        return server.name if server else vm

    def _check_stranded(self, now):
        for server in self.cloud.servers.values():
            if not self._stranded_now(server):
                self._stranded.pop(server.id, None)
                continue
            since, clock, looked = self._stranded.setdefault(
                server.id, (now, now, now))
            if server.id in self._lost:
                continue
            if now - looked >= 1.0 or now - clock >= self.lost_after:
                # Excused now: the deadline counts from here (a hold ends,
                # recovery has lost_after to bring it back).
                if self.excuse(server, since) is not None:
                    clock = now
                self._stranded[server.id] = (since, clock, now)
            if now - clock < self.lost_after:
                continue
            else:
                self._lost.add(server.id)
                where = 'down on live host' if self._guest_dead(server) \
                    else 'on dead host'
                self._violation(LOST, '%s has been %s %s since %.1f with no '
                                'recovery and no alert an operator can act '
                                'on' % (server.name, where, server.host,
                                        since))

    def _stranded_now(self, server):
        if server.status in ('DELETED', 'SOFT_DELETED'):
            return False
        host = self.cloud.hosts.get(server.host)
        if host is None:
            return False
        if not (host.power != 'on' or host.hung or host.reset_by_watchdog) \
                and not self._guest_dead(server):
            return False
        return self.is_ha(server)

    def _guest_dead(self, server):
        """Its guest died and runs nowhere (its owner did not stop it)."""
        return server.crashed and not server.user_stopped and not any(
            server.id in running for running in self.cloud.guests.values())

    def is_ha(self, server):
        if str(server.metadata.get('ha:enabled', '')).lower() == 'true':
            return True
        view = ha_aggregates.host_view_of(self.cloud.aggregates, server.host)
        return bool(view.segment and view.segment.evacuate_all)

    def pending(self):
        """HA VMs stranded without an excuse whose verdict is still to
        come (a run is not over while there are some)."""
        return [vm for vm, (since, _, _) in self._stranded.items()
                if vm not in self._lost and
                self.excuse(self.cloud.servers[vm], since) is None]

    def excuse(self, server, since):
        """Why an operator knows about the stranded VM, or None."""
        host = server.host
        view = ha_aggregates.host_view_of(self.cloud.aggregates, host)
        h = self.cloud.hosts[host]
        if view.maintenance or (h.disabled and (h.disabled_reason or '')
                                .startswith(ha_aggregates
                                            .MAINTENANCE_REASON_PREFIX)):
            return 'maintenance'
        if view.segment is not None and not view.segment.enabled:
            return 'segment turned off'
        if 'history' in self.cloud.down:
            # Nothing can be recorded, and no decision is taken without
            # its record: the database's own outage is what an operator
            # sees.
            return 'the history database is down'
        if self._dependency_alerted():
            return 'an engine alerted that a dependency does not answer'
        keys = set()
        for row in self.cloud.history.incidents.values():
            if row['host'] != host:
                continue
            keys.add(row['key'])
            if row['state'] == states.PARKED:
                return 'parked'
            if row['state'] == states.HELD and str(
                    row['facts'].get('held', '')).endswith(
                        ('in maintenance: HA is silenced for it',
                         'has ha:enabled=false')):
                return 'held by the operator\'s choice'
            if row['state'] in (states.HELD, states.CONFIRMING) and any(
                    kind == 'alert' and fields.get('incident') == row['key']
                    for _, kind, _, fields in self.cloud.history.records) \
                    and (row['state'] == states.HELD or
                         self._guest_dead(server)):
                # (Confirming with an alert: the host is cut off, alerted
                # as isolated; nothing can restart a guest there.)
                return 'held with an alert'
            if row['state'] == states.CLOSED and self._closed_after(
                    row, min(since, self._failing_since.get(host, since))):
                return 'closed by an operator'
            if row['state'] == states.PARTIAL and (
                    row['facts'].get('moved') or {}).get(
                        server.id, {}).get('outcome') == 'failed' and \
                    self._ended_after(row, states.PARTIAL,
                                      self._failing_since.get(host, since)):
                # Alerted as not recovered, and its host has not been
                # healthy since: the same failure.
                return 'partial'
        # An alert about the host's incidents or about the VM since it was
        # stranded (a storm held, a move failed or slow, a proof void...),
        # or about the VM's move still under way.
        moving = [m.created for m in self.cloud.evacuations(server.id)
                  if m.status in model.MIGRATION_IN_FLIGHT]
        vm_since = min([since] + moving)
        for at, kind, _, fields in self.cloud.history.records:
            if kind != 'alert' or \
                    fields.get('outcome') in INFORMATIONAL:
                continue
            if fields.get('incident') in keys and at >= since or \
                    fields.get('instance') == server.id and at >= vm_since:
                return 'alerted'
        return None

    def _dependency_alerted(self):
        """A running replica's latest word on the coordination backend or
        on nova-api is that it cannot reach it."""
        latest = {}
        for _, kind, _, fields in self.cloud.history.records:
            outcome = fields.get('outcome') or ''
            if outcome.startswith(('coordination_', 'nova_')):
                latest[(fields.get('who'), outcome.split('_')[0])] = \
                    outcome.endswith('_lost')
        running = {e.env.me for e in self.cloud.engines.values()}
        return any(lost and who in running
                   for (who, _), lost in latest.items())

    def _ended_after(self, row, state, since):
        """The incident moved to ``state`` at or after ``since`` (by the
        world's clock: a replica's own may be off)."""
        marker = ' -> %s:' % state
        return any(kind == 'transition' and at >= since and
                   fields.get('incident') == row['key'] and marker in text
                   for at, kind, text, fields in self.cloud.history.records)

    def _closed_after(self, row, since):
        return any(kind == 'operator.close' and
                   fields.get('incident') == row['key'] and at >= since
                   for at, kind, _, fields in self.cloud.history.records)

    # -- at the moment of an act ---------------------------------------------------

    def fenced(self, host, who, checked_at):
        """A BMC is about to power ``host`` off, on a request the
        executor checked at ``checked_at``."""
        since = self._healthy_since.get(host.name)
        if since is not None and since < checked_at:
            self._violation(HEALTHY_FENCED, '%s powered %s off, healthy '
                            'since %.1f' % (who, host.name, since))

    def evacuation_asked(self, server, source, checked_at):
        """Nova accepts an evacuation the executor checked at
        ``checked_at`` (a sign of life after it, while the request was on
        its way, was not there to be seen)."""
        false = self._false_attestations.get(source.name)
        proofs = [(row['facts'].get('proof') or {}).get('rung')
                  for row in self.cloud.history.incidents.values()
                  if row['host'] == source.name and
                  row['state'] == states.EVACUATING]
        if false is not None and 'operator' in proofs:
            if false[0] is not None and false[0] <= checked_at:
                self._violation(CONTRADICTED, '%s evacuated from %s on an '
                                'attestation that %s contradicted by living '
                                'since %.1f' % (server.name, source.name,
                                                source.name, false[0]))
            else:
                self._operators_twice.add(server.id)
        prefix = states.key_for(source.name, 0)[:-1]
        fenced = [r for r in self.cloud.history.records
                  if r[1] == 'transition' and
                  (r[3].get('incident') or '').startswith(prefix) and
                  ' -> fenced:' in r[2]]
        if not fenced:
            self._violation(NO_PROOF, '%s evacuated from %s with no fence '
                            'proof in the history' % (server.name,
                                                      source.name))
