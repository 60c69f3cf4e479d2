"""The Environment contract, one suite for every implementation.

What each verb of nova_ha.engine.env.Environment must do, as the decision
core and the replica loop rely on it: what a verb observes after an
action, how an unknown host or VM is reported, what ``Unavailable``
means, how leases, generations and the history fence a stale owner, and
which side effects the executor refuses (replica.run_action, the check
made just before the request goes on the wire).

Run on the simulated cloud (SimEnv) by tests/unit/engine and on the real
environment (Nova in process, tooz on Redis, the SQL history) by
tests/functional/engine.  Where the two disagree today, the subclass of
the one that breaks the contract marks the test
``xfail(strict=True)`` with the reason.
"""

from nova_ha.engine import env as engine_env
from nova_ha.engine import model
from nova_ha.engine import replica
from nova_ha.engine import states
from nova_ha.engine import vm_failure
from nova_ha.fencing import base as fence_base
from nova_ha.model import aggregates as ha_aggregates

NOVA, HISTORY, COORDINATION = 'nova', 'history', 'coordination'


class EnvContract:
    """Mixed into a unittest.TestCase that builds one world: a segment of
    ``HOST`` and ``OTHER`` with the reserved host ``SPARE``, every host
    alive, no incident, no VM.

    Hooks:

    ``env(name)``
        the Environment of the replica ``name`` in this world (the same
        object for the same name);
    ``boot(name, host)``
        a running VM on ``host``: its id;
    ``hang(host)``
        the host stops (every process, its heartbeats), its BMC still
        reports it on; returns once the coordination says it is lost;
    ``break_bmc(host)``
        its BMC no longer answers;
    ``not_answering(part)``
        a context in which ``part`` (NOVA, HISTORY, COORDINATION) does
        not answer any replica;
    ``lapse(key)``
        the lease of ``key`` outlives its TTL without a renewal;
    ``operator(key, host, request)``
        an operator's request ('retry', 'close', ...) on an open incident;
    ``records(incident)``
        the history's records of ``incident``, each a dict of kind,
        message, incident, token, host, instance, outcome, detail;
    ``wait(predicate, what)``
        time passes until ``predicate()`` is true;
    ``pause()``
        a little time passes;
    ``report(env, host, kind)``
        a monitor's report ('down' or 'up') reaches that replica.
    """

    HOST = 'a1'
    OTHER = 'a2'
    SPARE = 'a-spare'

    # -- helpers ----------------------------------------------------------

    def act(self, env, action):
        """``action`` as the loop runs it: its lease renewed at the look
        that asked for it, then checked and carried out."""
        if action.guarded:
            env.renew(action.incident, action.token)
        return replica.run_action(env, action)

    def opened(self, env=None, sequence=1):
        env = env or self.env('engine-1')
        stored = env.open_incident(self.HOST, sequence, 'contract')
        self.assertIsNotNone(stored)
        return stored

    def handed_over(self):
        """engine-1 opened the incident and gave its lease up; engine-2
        took it over.  (key, engine-1, engine-2)."""
        one, two = self.env('engine-1'), self.env('engine-2')
        key = self.opened(one).key
        one.release(key)
        self.assertTrue(two.lease_free(key))
        self.assertIsNotNone(two.take_over(key, 1))
        return key, one, two

    def stored(self, env, key):
        found = [i for i in env.incidents() if i.key == key]
        self.assertEqual(1, len(found), env.incidents())
        return found[0]

    def service(self, env, host):
        return env.compute_services()[host]

    def assertNotHeld(self, env, key, token):
        self.assertFalse(env.lease_valid(key, token))
        self.assertEqual(0.0, env.lease_left(key))
        self.assertFalse(env.renew(key, token))

    def assertRefused(self, result, why):
        self.assertFalse(result.ok, result)
        self.assertTrue((result.error or '').startswith(why), result.error)

    def assertDone(self, result):
        self.assertTrue(result.ok, result.error)
        return result.value

    # -- observe ----------------------------------------------------------

    def test_compute_services_name_every_compute_host(self):
        services = self.env('engine-1').compute_services()
        for host in (self.HOST, self.OTHER, self.SPARE):
            service = services[host]
            self.assertIsInstance(service, model.Service)
            self.assertEqual(host, service.host)
            self.assertIsNotNone(service.id)
            self.assertTrue(service.up)
            self.assertFalse(service.forced_down)
            self.assertFalse(service.disabled)
            # None: Nova holds no heartbeat of it yet.
            self.assertGreaterEqual(service.heartbeat_age or 0.0, 0.0)
        self.assertNotIn('no-such-host', services)

    def test_liveness_tells_a_host_lost_and_when(self):
        env = self.env('engine-1')
        self.assertEqual(model.ALIVE, env.liveness()[self.HOST])
        self.assertNotIn(self.HOST, env.lost_at() or {})
        self.hang(self.HOST)
        self.assertEqual(model.LOST, env.liveness()[self.HOST])
        self.assertEqual(model.ALIVE, env.liveness()[self.OTHER])
        lost_at = env.lost_at()
        self.assertIn(self.HOST, lost_at)
        self.assertNotIn(self.OTHER, lost_at)

    def test_aggregates_hold_the_segment_and_its_reserved_host(self):
        aggregates = self.env('engine-1').aggregates()
        self.assertIsInstance(aggregates, tuple)
        view = ha_aggregates.host_view_of(aggregates, self.HOST)
        self.assertIsNotNone(view.segment)
        self.assertEqual(view.segment_name, ha_aggregates.host_view_of(
            aggregates, self.SPARE).segment_name)
        self.assertTrue(ha_aggregates.host_view_of(aggregates,
                                                   self.SPARE).reserved)
        self.assertFalse(view.reserved)

    def test_servers_on_a_host_and_on_an_unknown_host(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        (server,) = env.servers_on(self.HOST)
        self.assertEqual(vm, server.id)
        self.assertEqual(self.HOST, server.host)
        self.assertEqual('ACTIVE', server.status)
        self.assertIsNone(server.task_state)
        self.assertEqual((), tuple(env.servers_on(self.OTHER)))
        self.assertEqual((), tuple(env.servers_on('no-such-host')))

    def test_servers_read_one_by_one_name_an_unknown_vm_deleted(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        missing = '00000000-0000-4000-8000-000000000000'
        found = env.servers([vm, missing])
        self.assertEqual({vm, missing}, set(found))
        self.assertEqual(self.HOST, found[vm].host)
        self.assertEqual('ACTIVE', found[vm].status)
        self.assertEqual('DELETED', found[missing].status)

    def test_migrations_of_a_vm_never_moved_are_none(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        missing = '00000000-0000-4000-8000-000000000000'
        self.assertEqual({vm: (), missing: ()},
                         env.migrations([vm, missing], self.HOST, 0.0))

    def test_take_reports_hands_each_report_once(self):
        env = self.env('engine-1')
        self.assertEqual([], list(env.take_reports()))
        self.report(env, self.HOST, 'down')
        self.report(env, self.OTHER, 'up')
        reports = list(env.take_reports())
        self.assertEqual([(self.HOST, 'down'), (self.OTHER, 'up')],
                         [(h, kind) for h, kind, _ in reports])
        self.assertEqual([], list(env.take_reports()))
        self.assertEqual([], list(self.env('engine-2').take_reports()))

    # -- Unavailable --------------------------------------------------------

    def test_nova_not_answering_is_unavailable_to_every_read(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        with self.not_answering(NOVA):
            for read in (env.compute_services, env.aggregates,
                         lambda: env.servers_on(self.HOST),
                         lambda: env.servers([vm]),
                         lambda: env.migrations([vm], self.HOST, 0.0)):
                with self.assertRaises(engine_env.Unavailable):
                    read()
        self.assertIn(self.HOST, env.compute_services())

    def test_nova_not_answering_is_unavailable_to_every_side_effect(self):
        """A source that does not answer raises Unavailable (env's module
        docstring): a side effect is no exception to it."""
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        with self.not_answering(NOVA):
            for effect in (
                    lambda: env.force_down(self.HOST, None),
                    lambda: env.disable(self.HOST, 'nova-ha: contract'),
                    lambda: env.evacuate(vm, True),
                    lambda: env.set_power(vm, 'SHUTOFF'),
                    lambda: env.reset_stale_task(vm, self.HOST, None,
                                                 'error')):
                with self.assertRaises(engine_env.Unavailable):
                    effect()

    def test_history_not_answering_is_unavailable(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        with self.not_answering(HISTORY):
            for call in (env.incidents,
                         lambda: env.open_incident(self.OTHER, 1, 'x'),
                         lambda: env.note('alert', 'lost?'),
                         lambda: env.save(key, 1, states.CONFIRMING, {},
                                          ())):
                with self.assertRaises(engine_env.Unavailable):
                    call()
            # The executor cannot tell the lease is still valid: refused.
            self.assertRefused(self.act(env, model.ForceDown(
                incident=key, token=1, host=self.HOST)), 'StaleLease')
        self.assertEqual(states.DETECTED, self.stored(env, key).state)
        self.assertFalse(self.service(env, self.HOST).forced_down)
        # Nothing was opened for OTHER while the history was away.
        self.assertEqual([key], [i.key for i in env.incidents()])

    def test_coordination_not_answering_is_unavailable_to_liveness(self):
        env = self.env('engine-1')
        with self.not_answering(COORDINATION):
            with self.assertRaises(engine_env.Unavailable):
                env.liveness()
            with self.assertRaises(engine_env.Unavailable):
                env.lost_at()
        self.assertEqual(model.ALIVE, env.liveness()[self.HOST])

    # -- incidents and leases ------------------------------------------------

    def test_open_incident_is_exactly_once_for_one_key(self):
        one, two = self.env('engine-1'), self.env('engine-2')
        stored = one.open_incident(self.HOST, 1, 'contract')
        self.assertIsInstance(stored, model.StoredIncident)
        self.assertEqual(states.key_for(self.HOST, 1), stored.key)
        self.assertEqual(self.HOST, stored.host)
        self.assertEqual(states.DETECTED, stored.state)
        self.assertEqual('engine-1', stored.owner)
        self.assertEqual(1, stored.generation)
        self.assertFalse(stored.closed)
        # The other caller, while the lease is held and after it is given
        # up: the history's key lets exactly one open it.
        self.assertIsNone(two.open_incident(self.HOST, 1, 'contract'))
        one.release(stored.key)
        self.assertIsNone(two.open_incident(self.HOST, 1, 'contract'))
        self.assertIsNone(one.open_incident(self.HOST, 1, 'again'))
        (seen,) = two.incidents()
        self.assertEqual((stored.key, 'engine-1', 1),
                         (seen.key, seen.owner, seen.generation))
        opened = [r for r in self.records(stored.key)
                  if r['kind'] == 'transition']
        self.assertEqual(1, len(opened), opened)
        self.assertIn('contract', opened[0]['message'])
        self.assertEqual(1, opened[0]['token'])

    def test_the_opener_holds_the_lease(self):
        one, two = self.env('engine-1'), self.env('engine-2')
        key = self.opened(one).key
        self.assertTrue(one.lease_valid(key, 1))
        self.assertTrue(one.lease_valid(key, 1, within=0.5))
        self.assertGreater(one.lease_left(key), 0.5)
        self.assertFalse(one.lease_valid(key, 2))
        self.assertFalse(two.lease_valid(key, 1))
        self.assertEqual(0.0, two.lease_left(key))
        self.assertFalse(two.lease_free(key))
        self.assertTrue(one.renew(key, 1))
        self.assertFalse(two.renew(key, 1))

    def test_lease_valid_within_more_than_the_lease_lasts(self):
        one = self.env('engine-1')
        key = self.opened(one).key
        left = one.lease_left(key)
        self.assertFalse(one.lease_valid(key, 1, within=left + 60.0))

    def test_release_frees_the_lease(self):
        one, two = self.env('engine-1'), self.env('engine-2')
        key = self.opened(one).key
        one.release(key)
        self.assertNotHeld(one, key, 1)
        self.assertTrue(two.lease_free(key))

    def test_lease_free_only_asks(self):
        """lease_free: "True when nobody holds the lease" - a question:
        a replica that asks and does not take the incident over leaves it
        free for the others."""
        one, two, three = (self.env('engine-1'), self.env('engine-2'),
                           self.env('engine-3'))
        key = self.opened(one).key
        one.release(key)
        self.assertTrue(two.lease_free(key))
        self.assertTrue(three.lease_free(key))
        self.assertIsNotNone(three.take_over(key, 1))

    def test_an_unrenewed_lease_lapses(self):
        one, two = self.env('engine-1'), self.env('engine-2')
        key = self.opened(one).key
        self.lapse(key)
        self.assertNotHeld(one, key, 1)
        self.assertTrue(two.lease_free(key))
        self.assertEqual(2, two.take_over(key, 1).generation)

    def test_take_over_bumps_the_generation(self):
        key, one, two = self.handed_over()
        stored = self.stored(two, key)
        self.assertEqual(('engine-2', 2), (stored.owner, stored.generation))
        self.assertTrue(two.lease_valid(key, 2))
        self.assertFalse(two.lease_valid(key, 1))
        self.assertFalse(one.lease_valid(key, 1))
        self.assertFalse(one.lease_free(key))

    def test_take_over_returns_the_incident_as_it_stands(self):
        one, two = self.env('engine-1'), self.env('engine-2')
        key = self.opened(one).key
        self.assertTrue(self.act(one, model.Save(
            incident=key, token=1, state=states.CONFIRMING,
            facts={'asked': 'twice'})).ok)
        one.release(key)
        two.lease_free(key)
        taken = two.take_over(key, 1)
        self.assertEqual((key, self.HOST, states.CONFIRMING, 'engine-2', 2,
                          {'asked': 'twice'}, False),
                         (taken.key, taken.host, taken.state, taken.owner,
                          taken.generation, taken.facts, taken.closed))

    def test_take_over_keeps_the_since_of_the_state(self):
        """StoredIncident.since becomes the new owner's Incident.since,
        "when it entered state" (states.Incident): its timers (the
        fenced_at and started fallbacks of core) run on from there."""
        one, two = self.env('engine-1'), self.env('engine-2')
        key = self.opened(one).key
        since = self.stored(one, key).since
        self.pause()
        one.release(key)
        two.lease_free(key)
        self.assertEqual(since, two.take_over(key, 1).since)
        self.assertEqual(since, self.stored(two, key).since)

    def test_a_save_within_a_state_keeps_its_since(self):
        """Facts change within a state (counters, timers): ``since`` stays
        when the incident entered it."""
        env = self.env('engine-1')
        key = self.opened(env).key
        since = self.stored(env, key).since
        self.pause()
        self.assertDone(self.act(env, model.Save(
            incident=key, token=1, state=states.DETECTED,
            facts={'looks': 2})))
        stored = self.stored(env, key)
        self.assertEqual(({'looks': 2}, since), (stored.facts, stored.since))

    def test_take_over_of_a_held_or_newer_incident_is_refused(self):
        one, two, three = (self.env('engine-1'), self.env('engine-2'),
                           self.env('engine-3'))
        key = self.opened(one).key
        self.assertIsNone(two.take_over(key, 1))      # held by engine-1
        self.assertTrue(one.lease_valid(key, 1))
        one.release(key)
        self.assertIsNone(two.take_over(key, 0))      # not the generation
        self.assertTrue(two.lease_free(key))
        self.assertEqual(2, two.take_over(key, 1).generation)
        two.release(key)
        self.assertIsNone(three.take_over(key, 1))    # 2 is newer
        self.assertEqual(2, self.stored(three, key).generation)

    def test_an_action_under_a_stale_token_is_refused(self):
        key, one, two = self.handed_over()
        for action in (model.ForceDown(incident=key, token=1,
                                       host=self.HOST),
                       model.Disable(incident=key, token=1, host=self.HOST,
                                     reason='nova-ha: stale'),
                       model.ClearRequest(incident=key, token=1,
                                          request='retry')):
            self.assertRefused(self.act(one, action), 'StaleLease')
        service = self.service(one, self.HOST)
        self.assertFalse(service.forced_down)
        self.assertFalse(service.disabled)
        # Under the new generation the same action runs.
        self.assertDone(self.act(two, model.ForceDown(
            incident=key, token=2, host=self.HOST)))

    def test_save_with_a_stale_token_is_refused(self):
        key, one, two = self.handed_over()
        result = self.act(one, model.Save(
            incident=key, token=1, state=states.CONFIRMING,
            facts={'by': 'engine-1'}))
        self.assertRefused(result, 'StaleLease')
        # The verb itself refuses too (the history holds generation 2),
        # whatever the lease says.
        self.assertFalse(one.save(key, 1, states.CONFIRMING,
                                  {'by': 'engine-1'}, ()))
        stored = self.stored(two, key)
        self.assertEqual((states.DETECTED, {}, 2),
                         (stored.state, stored.facts, stored.generation))

    def test_save_writes_the_state_its_facts_and_its_records(self):
        env = self.env('engine-1')
        stored = self.opened(env)
        key, now = stored.key, stored.since + 1.0
        moved = states.TransitionRecord(key, self.HOST, states.DETECTED,
                                        states.CONFIRMING, 'contract', 1,
                                        now)
        note = model.Note(incident=key, token=1, kind='decision',
                          message='asked the peers', host=self.HOST,
                          outcome='asked')
        self.assertDone(self.act(env, model.Save(
            incident=key, token=1, state=states.CONFIRMING,
            facts={'asked': ['a2']}, records=(moved, note))))
        stored = self.stored(env, key)
        self.assertEqual((states.CONFIRMING, {'asked': ['a2']}, 1),
                         (stored.state, stored.facts, stored.generation))
        self.assertFalse(stored.closed)
        written = self.records(key)
        lines = [(r['kind'], r['message'], r['token']) for r in written]
        self.assertIn(('transition', moved.line(), 1), lines)
        self.assertIn(('decision', 'asked the peers', 1), lines)
        self.assertLess(lines.index(('transition', moved.line(), 1)),
                        lines.index(('decision', 'asked the peers', 1)))

    def test_a_final_state_closes_and_the_latest_closed_one_is_kept(self):
        env = self.env('engine-1')
        for sequence in (1, 2, 3):
            key = self.opened(env, sequence).key
            if sequence < 3:
                self.assertDone(self.act(env, model.Save(
                    incident=key, token=1, state=states.RECOVERED,
                    facts={})))
                env.release(key)
        seen = {i.key: i.closed for i in env.incidents()}
        self.assertEqual({states.key_for(self.HOST, 3): False,
                          states.key_for(self.HOST, 2): True}, seen)

    def test_an_operator_closed_incident_refuses_every_save(self):
        """An incident an operator closed is final (HistoryStore.
        save_incident): its owner cannot write it back open."""
        env = self.env('engine-1')
        key = self.opened(env).key
        self.operator(key, self.HOST, 'close')
        self.assertFalse(env.save(key, 1, states.CONFIRMING, {}, ()))
        stored = self.stored(env, key)
        self.assertEqual(states.CLOSED, stored.state)
        self.assertTrue(stored.closed)

    # -- the history -----------------------------------------------------

    def test_a_note_reaches_the_history(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        self.assertDone(self.act(env, model.Note(
            incident=key, token=1, kind='alert', message='BMC slow',
            host=self.HOST, instance='vm-x', outcome='late')))
        env.note('decision', 'no incident', host=self.OTHER)
        (alert,) = [r for r in self.records(key) if r['kind'] == 'alert']
        self.assertEqual(('BMC slow', key, 1, self.HOST, 'vm-x', 'late'),
                         (alert['message'], alert['incident'],
                          alert['token'], alert['host'], alert['instance'],
                          alert['outcome']))
        (free,) = [r for r in self.records(None)
                   if r['message'] == 'no incident']
        self.assertEqual(('decision', None, self.OTHER),
                         (free['kind'], free['incident'], free['host']))

    def test_a_note_keeps_its_detail(self):
        env = self.env('engine-1')
        env.note('alert', 'with detail', host=self.HOST,
                 detail={'rung': 'bmc', 'tries': 2})
        (note,) = [r for r in self.records(None)
                   if r['message'] == 'with detail']
        self.assertEqual({'rung': 'bmc', 'tries': 2}, note['detail'])

    def test_clear_request_clears_an_operator_request(self):
        key, one, two = self.handed_over()
        self.operator(key, self.HOST, 'retry')
        self.assertIn('retry', self.stored(two, key).operator)
        # The former owner's clear changes nothing.
        self.assertRefused(self.act(one, model.ClearRequest(
            incident=key, token=1, request='retry')), 'StaleLease')
        one.clear_request(key, 'retry', 1)
        self.assertIn('retry', self.stored(two, key).operator)
        self.assertDone(self.act(two, model.ClearRequest(
            incident=key, token=2, request='retry')))
        self.assertNotIn('retry', self.stored(two, key).operator)
        # Clearing what is not there is nothing to do.
        self.assertDone(self.act(two, model.ClearRequest(
            incident=key, token=2, request='retry')))

    def test_take_events_is_empty_while_every_monitor_is_quiet(self):
        self.assertEqual([], list(self.env('engine-1').take_events()))

    def test_open_incident_of_another_kind_keys_it_by_its_subject(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        stored = env.open_incident(self.HOST, 1, 'contract',
                                   kind=vm_failure.KIND, subject=vm,
                                   facts={'vm': vm, 'tries': []})
        self.assertEqual('vm_failure:%s:1' % vm, stored.key)
        self.assertEqual((vm_failure.REPORTED, self.HOST, 1),
                         (stored.state, stored.host, stored.generation))
        self.assertEqual(vm, stored.facts['vm'])
        self.assertIsNone(env.open_incident(self.HOST, 1, 'again',
                                            kind=vm_failure.KIND,
                                            subject=vm))
        self.assertEqual([stored.key], [i.key for i in env.incidents()])

    def test_relay_puts_a_request_on_an_open_incident_only(self):
        one, two = self.env('engine-1'), self.env('engine-2')
        key = self.opened(one).key
        self.assertDone(self.act(two, model.Relay(
            incident=key, request='failed_again',
            report=model.Report('vm_failure', self.HOST, 'vm-x', 'crash'))))
        request = self.stored(one, key).operator['failed_again']
        self.assertIn('crash', request['reason'])
        self.operator(key, self.HOST, 'close')
        self.assertFalse(self.act(two, model.Relay(
            incident=key, request='failed_again',
            report=model.Report('vm_failure', self.HOST, 'vm-x',
                                'crash'))).ok)

    def test_stopped_by_user_reads_who_stopped_the_vm(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        self.assertFalse(env.stopped_by_user(vm))

    # -- side effects ------------------------------------------------------

    def test_read_power_is_on_off_or_unknown(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        self.assertEqual('on', self.assertDone(self.act(
            env, model.ReadPower(incident=key, host=self.HOST))))
        self.hang(self.HOST)
        self.assertEqual('on', env.read_power(self.HOST))
        result = self.assertDone(self.act(env, model.Fence(
            incident=key, token=1, host=self.HOST)))
        self.assertEqual(fence_base.FenceOutcome.FENCED, result.outcome)
        self.assertTrue(result.confirmed_off)
        self.assertEqual('off', env.read_power(self.HOST))
        self.break_bmc(self.OTHER)
        self.assertEqual('unknown', env.read_power(self.OTHER))

    def test_a_fence_needs_its_host_dead(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        fence = model.Fence(incident=key, token=1, host=self.HOST)
        self.assertEqual(self.HOST, fence.needs_dead)
        self.assertRefused(self.act(env, fence), 'HostAlive')
        self.assertEqual('on', env.read_power(self.HOST))

    def test_force_down_then_compute_services_shows_forced_down(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        service = self.service(env, self.HOST)
        action = model.ForceDown(incident=key, token=1, host=self.HOST,
                                 service_id=service.id)
        self.assertIsNone(action.needs_dead)      # the host may live
        self.assertDone(self.act(env, action))
        service = self.service(env, self.HOST)
        self.assertTrue(service.forced_down)
        self.assertFalse(service.up)
        self.assertFalse(self.service(env, self.OTHER).forced_down)

    def test_disable_then_compute_services_shows_the_reason(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        self.assertDone(self.act(env, model.Disable(
            incident=key, token=1, host=self.HOST,
            reason='nova-ha: contract')))
        service = self.service(env, self.HOST)
        self.assertTrue(service.disabled)
        self.assertEqual('nova-ha: contract', service.disabled_reason)
        self.assertFalse(service.forced_down)

    def test_side_effects_on_an_unknown_host_or_vm_fail(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        missing = '00000000-0000-4000-8000-000000000000'
        for action in (
                model.ForceDown(incident=key, token=1, host='no-such-host'),
                model.Disable(incident=key, token=1, host='no-such-host',
                              reason='nova-ha: x'),
                model.SetPower(incident=key, token=1, vm=missing,
                               want='SHUTOFF'),
                model.ResetStaleTask(incident=key, token=1, vm=missing,
                                     source=self.HOST)):
            result = self.act(env, action)
            self.assertFalse(result.ok, action)
            self.assertTrue(result.error, action)

    def test_evacuate_needs_its_source_dead(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        key = self.opened(env).key
        evacuate = model.Evacuate(incident=key, token=1, vm=vm,
                                  source=self.HOST)
        self.assertEqual(self.HOST, evacuate.needs_dead)
        self.assertRefused(self.act(env, evacuate), 'HostAlive')
        self.assertEqual((), env.migrations([vm], self.HOST, 0.0)[vm])
        self.assertEqual(self.HOST, env.servers([vm])[vm].host)

    def test_nova_evacuates_only_from_a_service_down(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        key = self.opened(env).key
        self.hang(self.HOST)
        self.assertDone(self.act(env, model.Fence(
            incident=key, token=1, host=self.HOST)))
        evacuate = model.Evacuate(incident=key, token=1, vm=vm,
                                  source=self.HOST)
        # Fenced, but Nova still counts its service up.
        self.assertTrue(self.service(env, self.HOST).up)
        self.assertFalse(self.act(env, evacuate).ok)
        self.assertEqual((), env.migrations([vm], self.HOST, 0.0)[vm])
        self.assertDone(self.act(env, model.ForceDown(
            incident=key, token=1, host=self.HOST)))
        self.assertDone(self.act(env, evacuate))

        def moved():
            (server,) = env.servers([vm]).values()
            return server.host != self.HOST and server.task_state is None
        self.wait(moved, 'the evacuation of %s' % vm)
        (move,) = env.migrations([vm], self.HOST, 0.0)[vm]
        self.assertEqual(('evacuation', self.HOST, vm),
                         (move.type, move.source, move.instance))
        self.assertNotIn(move.status, model.MIGRATION_IN_FLIGHT)
        self.assertEqual(move.dest, env.servers([vm])[vm].host)
        self.assertEqual([vm], [s.id for s in env.servers_on(move.dest)])

    def test_set_power_stops_starts_and_resets_to_error(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        key = self.opened(env).key

        def status(want):
            def reached():
                server = env.servers([vm])[vm]
                return server.status == want and server.task_state is None
            self.wait(reached, '%s %s' % (vm, want))
        for want in ('SHUTOFF', 'ACTIVE'):
            self.assertDone(self.act(env, model.SetPower(
                incident=key, token=1, vm=vm, want=want)))
            status(want)
        self.assertDone(self.act(env, model.SetPower(
            incident=key, token=1, vm=vm, want='ERROR')))
        status('ERROR')

    def test_reset_stale_task_only_as_nova_still_shows_it(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        key = self.opened(env).key
        for source, task_state in ((self.HOST, 'rebuilding'),
                                   (self.OTHER, None)):
            self.assertEqual('changed since it was read', self.assertDone(
                self.act(env, model.ResetStaleTask(
                    incident=key, token=1, vm=vm, source=source,
                    task_state=task_state, to_state='error'))))
            self.assertEqual('ACTIVE', env.servers([vm])[vm].status)
        self.assertEqual('reset', self.assertDone(self.act(
            env, model.ResetStaleTask(incident=key, token=1, vm=vm,
                                      source=self.HOST, task_state=None,
                                      to_state='error'))))
        self.assertEqual('ERROR', env.servers([vm])[vm].status)

    def test_restart_vm_hard_reboots_or_starts_it_on_its_host(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        key = self.opened(env).key

        def active():
            server = env.servers([vm])[vm]
            return server.status == 'ACTIVE' and server.task_state is None
        self.assertDone(self.act(env, model.RestartVM(
            incident=key, token=1, vm=vm, how='hard_reboot')))
        self.wait(active, '%s ACTIVE after its hard reboot' % vm)
        self.assertDone(self.act(env, model.SetPower(
            incident=key, token=1, vm=vm, want='SHUTOFF')))
        self.wait(lambda: env.servers([vm])[vm].status == 'SHUTOFF' and
                  env.servers([vm])[vm].task_state is None, 'stopped')
        self.assertDone(self.act(env, model.RestartVM(
            incident=key, token=1, vm=vm, how='start', attempt=2)))
        self.wait(active, '%s ACTIVE after its start' % vm)
        self.assertEqual(self.HOST, env.servers([vm])[vm].host)

    def test_migrate_then_confirm_moves_the_vm_to_an_ordinary_host(self):
        env = self.env('engine-1')
        vm = self.boot('vm-1', self.HOST)
        key = self.opened(env).key
        self.assertDone(self.act(env, model.MigrateVM(
            incident=key, token=1, vm=vm)))
        self.wait(lambda: env.servers([vm])[vm].status == 'VERIFY_RESIZE',
                  '%s migrated' % vm)
        self.assertDone(self.act(env, model.ConfirmMove(
            incident=key, token=1, vm=vm)))
        self.wait(lambda: env.servers([vm])[vm].status == 'ACTIVE',
                  '%s confirmed' % vm)
        # Not the reserved host: ordinary moves never take it.
        self.assertEqual(self.OTHER, env.servers([vm])[vm].host)

    def test_enable_after_disable_clears_the_reason(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        self.assertDone(self.act(env, model.Disable(
            incident=key, token=1, host=self.HOST, reason='nova-ha: test')))
        self.assertTrue(self.service(env, self.HOST).disabled)
        self.assertDone(self.act(env, model.Enable(
            incident=key, token=1, host=self.HOST)))
        self.wait(lambda: not self.service(env, self.HOST).disabled,
                  'enabled')

    def test_release_reserved_takes_the_host_out_of_its_aggregate(self):
        env = self.env('engine-1')
        key = self.opened(env).key
        (reserved,) = [a for a in env.aggregates()
                       if self.SPARE in a.hosts and
                       ha_aggregates.RESERVED_KEY in a.metadata]
        self.assertDone(self.act(env, model.ReleaseReserved(
            incident=key, token=1, host=self.SPARE, aggregate=reserved.id)))
        (after,) = [a for a in env.aggregates() if a.id == reserved.id]
        self.assertNotIn(self.SPARE, after.hosts)
        self.assertFalse(ha_aggregates.host_view_of(
            env.aggregates(), self.SPARE).reserved)

