"""Host-failure histories as the engine (nova_ha.engine) writes them.

The writes go through the engine's own writer, RealEnvironment's
``open_incident``, ``save`` and ``note``, into a real HistoryStore on
SQLite: the incident row (state, facts), its ``transition`` records and
the notes saved with them.  Only the clock is the test's: the store's
``utcnow`` is patched, so ``opened_at``, ``updated_at`` and every record's
time are the seconds the test names.
"""

import datetime
from unittest import mock

from nova_ha.engine import model
from nova_ha.engine import real_env
from nova_ha.engine import states
from nova_ha.history import store as history_store


class _Leases:
    """Every lease is free and ours (one replica)."""

    def acquire(self, key):
        return True

    def release(self, key):
        pass

    def held_here(self, key):
        return True

    def owned(self, key):
        return True


class EngineHistory:
    """Writes one host-failure incident the way the engine does.

    ``t0`` is the moment the engine sees the host dead (second 0).
    """

    def __init__(self, test, store, t0):
        self.store = store
        self.t0 = t0
        self.now = t0
        patcher = mock.patch.object(history_store, 'utcnow',
                                    lambda: self.now)
        patcher.start()
        test.addCleanup(patcher.stop)
        self.env = real_env.RealEnvironment(
            'engine-test', nova=None, history=store, leases=_Leases(),
            fencer=None, power_reader=None,
            clock=lambda: self.now.timestamp())
        self.incident = None

    def at(self, seconds):
        return self.t0 + datetime.timedelta(seconds=seconds)

    def _tick(self, seconds):
        self.now = self.at(seconds)

    def open(self, host, seconds=0, why='liveness lost, reported down',
             sequence=1):
        """The engine sees ``host`` dead: the incident opens, detected."""
        self._tick(seconds)
        stored = self.env.open_incident(host, sequence, why)
        self.incident = states.Incident(
            stored.key, stored.host, stored.state, stored.opened_at,
            stored.since, stored.generation, dict(stored.facts))
        return stored.key

    def move(self, seconds, after, why, notes=(), **facts):
        """A transition (after ``notes``, saved with it, as the core
        orders them), with ``facts`` merged."""
        self._tick(seconds)
        self.incident, record = states.transition(
            self.incident, after, why, self.now.timestamp(), **facts)
        self._save(list(notes) + [record])

    def note(self, seconds, kind, message, **fields):
        """A record saved with the incident (``remember`` facts with
        ``facts=``)."""
        self._tick(seconds)
        facts = fields.pop('facts', None)
        if facts:
            self.incident = self.incident.with_facts(**facts)
        self._save([self.make_note(kind, message, **fields)])

    def make_note(self, kind, message, **fields):
        fields.setdefault('host', self.incident.host)
        return model.Note(incident=self.incident.key,
                          token=self.incident.token, kind=kind,
                          message=message, **fields)

    def _save(self, records):
        incident = self.incident
        assert self.env.save(incident.key, incident.token, incident.state,
                             dict(incident.facts), records)

    # -- whole stories -------------------------------------------------------

    def plan(self, vms):
        """``vms``: (id, name, status before the failure) triples."""
        return [{'id': vm, 'name': name, 'priority': 10 - index,
                 'status': status}
                for index, (vm, name, status) in enumerate(vms)]

    def until_evacuating(self, host, vms, segment='seg-a', forced_down=5):
        """Opened at 0 s, confirmed, fenced at 2..4.5 s (the driver took
        2.5 s), forced down at ``forced_down`` s (None: not yet recorded),
        evacuating from 6 s."""
        key = self.open(host)
        self.move(0.5, states.CONFIRMING, 'asking a second channel')
        self.move(2, states.FENCING, 'guards passed; powering %s off' %
                  host, notes=[self.make_note(
                      'decision', 'recovering %s in segment %s' % (
                          host, segment), outcome='proceed')],
                  fence_attempt=1, segment=segment)
        self.move(4.5, states.FENCED, 'the BMC confirmed %s off' % host,
                  notes=[self.make_note(
                      'fence', 'fencing %s (attempt 1): fenced' % host,
                      outcome='fenced', detail={
                          'host': host, 'driver': 'ipmi',
                          'outcome': 'fenced', 'power_state': 'off',
                          'detail': 'powered off', 'elapsed_s': 2.5,
                          'attempts': 1, 'confirmed_off': True})],
                  proof={'rung': 'bmc', 'outcome': 'fenced'})
        if forced_down is not None:
            self.forced_down(forced_down)
        plan = self.plan(vms)
        self.move(6, states.EVACUATING, 'nova-compute forced down; %d VMs '
                  'to move' % len(plan), notes=[self.make_note(
                      'decision', 'plan for %s: %d HA VMs' % (
                          host, len(plan)))],
                  plan=plan, moved={}, started=self.at(6).timestamp())
        return key

    def forced_down(self, seconds):
        self.note(seconds, 'service', 'nova-compute on %s forced down' %
                  self.incident.host, outcome='forced_down')

    def requested(self, seconds, vm):
        self.note(seconds, 'evacuate', 'asked Nova to evacuate %s' % vm,
                  instance=vm, outcome='requested')

    def moved(self, seconds, vm, target='spare', status='ACTIVE'):
        done = dict(self.incident.fact('moved') or {})
        done[vm] = {'outcome': 'done', 'target': target, 'status': status}
        self.note(seconds, 'evacuate', '%s moved' % vm, instance=vm,
                  outcome='done', facts={'moved': done})

    def failed(self, seconds, vm, why='no valid host'):
        done = dict(self.incident.fact('moved') or {})
        done[vm] = {'outcome': 'failed', 'error': why}
        self.note(seconds, 'evacuate', 'evacuation of %s failed: %s' % (
            vm, why), instance=vm, outcome='failed', facts={'moved': done})

    def gone(self, seconds, vm):
        done = dict(self.incident.fact('moved') or {})
        done[vm] = {'outcome': 'gone'}
        self.note(seconds, 'evacuate', '%s was deleted' % vm, instance=vm,
                  outcome='gone', facts={'moved': done})

    def close(self, seconds, disabled_at=None):
        """Disable the host, then recovered (or partial when a VM
        failed)."""
        if disabled_at is not None:
            self.note(disabled_at, 'service', 'nova-compute on %s disabled'
                      % self.incident.host, outcome='disabled')
        moved = self.incident.fact('moved') or {}
        failed = sorted(vm for vm, d in moved.items()
                        if d['outcome'] == 'failed')
        self.move(seconds, states.PARTIAL if failed else states.RECOVERED,
                  '%d VMs moved, %d failed; %s stays disabled' % (
                      sum(1 for d in moved.values()
                          if d['outcome'] == 'done'), len(failed),
                      self.incident.host))
