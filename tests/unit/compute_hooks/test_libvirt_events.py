"""The decision core of the libvirt monitor: which domain events are VM
failures, and that each failure is reported once, live or after a
reconnect.  Pure: plain values in, verdicts out (libvirt's constants come
from the real binding)."""

import unittest

import pytest

# libvirt-python is not in the fast tier's light install (it builds only
# against libvirt-dev): skip there, run everywhere else.
libvirt = pytest.importorskip('libvirt')

from nova_ha.compute_hooks import libvirt_events as le
from nova_ha.model import libvirt_kinds
from nova_ha.conf import libvirt_monitor as libvirt_monitor_conf
from nova_ha.notifier import events

VM = '11111111-2222-4333-8444-555555555555'
OTHER = '66666666-7777-4888-9999-aaaaaaaaaaaa'


def lifecycle(event, detail, uuid=VM):
    return le.DomainEvent(uuid, 'instance-0000002a', le.LIFECYCLE,
                          event=event, detail=detail)


def started(uuid=VM):
    return lifecycle(libvirt.VIR_DOMAIN_EVENT_STARTED,
                     libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED, uuid)


def stopped(detail, uuid=VM):
    return lifecycle(libvirt.VIR_DOMAIN_EVENT_STOPPED, detail, uuid)


def suspended(detail):
    return lifecycle(libvirt.VIR_DOMAIN_EVENT_SUSPENDED, detail)


def resumed():
    return lifecycle(libvirt.VIR_DOMAIN_EVENT_RESUMED,
                     libvirt.VIR_DOMAIN_EVENT_RESUMED_UNPAUSED)


def panicked():
    return lifecycle(libvirt.VIR_DOMAIN_EVENT_CRASHED,
                     libvirt.VIR_DOMAIN_EVENT_CRASHED_PANICKED)


def watchdog(action=libvirt.VIR_DOMAIN_EVENT_WATCHDOG_PAUSE):
    return le.DomainEvent(VM, 'instance-0000002a', le.WATCHDOG_EVENT,
                          action=action)


def io_error(action=libvirt.VIR_DOMAIN_EVENT_IO_ERROR_PAUSE,
             reason='enospc'):
    return le.DomainEvent(VM, 'instance-0000002a', le.IO_ERROR_EVENT,
                          action=action, reason=reason,
                          device='virtio-disk0 (/var/lib/nova/disk)')


def state(condition_state, reason, uuid=VM, name='instance-0000002a'):
    return le.DomainState(uuid, name, condition_state, reason)


RUNNING = state(libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED)


def running_tracker(**kwargs):
    """A tracker that has seen the domain start (first connection)."""
    tracker = le.DomainTracker(**kwargs)
    tracker.reconcile([RUNNING], tracker.snapshot_started(), report=False)
    return tracker


class TestWhatIsAFailure(unittest.TestCase):
    """classify(): every lifecycle detail Nova or a crash produces."""

    def kind(self, event):
        found = le.classify(event)
        return found[0] if found else None

    def test_stops_nova_or_a_user_or_the_guest_asked_for_are_not_failures(
            self):
        # power_off = ACPI shutdown then virDomainDestroy; delete, hard
        # reboot, rescue destroy; live migration, managed save, snapshot
        # revert stop the source domain.
        for detail in ('SHUTDOWN', 'DESTROYED', 'MIGRATED', 'SAVED',
                       'FROM_SNAPSHOT'):
            with self.subTest(detail=detail):
                self.assertIsNone(self.kind(stopped(getattr(
                    libvirt, 'VIR_DOMAIN_EVENT_STOPPED_' + detail))))

    def test_stops_nobody_asked_for_are_failures(self):
        self.assertEqual(le.STOPPED_FAILED, self.kind(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED)))
        self.assertEqual(le.CRASHED, self.kind(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED)))

    def test_guest_panic_any_detail(self):
        for detail in (libvirt.VIR_DOMAIN_EVENT_CRASHED_PANICKED,
                       libvirt.VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED, 99):
            with self.subTest(detail=detail):
                self.assertEqual(le.GUEST_PANIC, self.kind(lifecycle(
                    libvirt.VIR_DOMAIN_EVENT_CRASHED, detail)))

    def test_pauses_on_io_error_and_watchdog_are_failures_others_not(self):
        self.assertEqual(le.IO_ERROR_PAUSE, self.kind(suspended(
            libvirt.VIR_DOMAIN_EVENT_SUSPENDED_IOERROR)))
        self.assertEqual(le.WATCHDOG, self.kind(suspended(
            libvirt.VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG)))
        for detail in ('PAUSED', 'MIGRATED', 'RESTORED', 'FROM_SNAPSHOT',
                       'API_ERROR', 'POSTCOPY', 'POSTCOPY_FAILED'):
            with self.subTest(detail=detail):
                self.assertIsNone(self.kind(suspended(getattr(
                    libvirt, 'VIR_DOMAIN_EVENT_SUSPENDED_' + detail))))

    def test_other_lifecycle_events_are_not_failures(self):
        for event in ('DEFINED', 'UNDEFINED', 'STARTED', 'RESUMED',
                      'SHUTDOWN', 'PMSUSPENDED'):
            for detail in range(4):
                with self.subTest(event=event, detail=detail):
                    self.assertIsNone(self.kind(lifecycle(getattr(
                        libvirt, 'VIR_DOMAIN_EVENT_' + event), detail)))

    def test_every_watchdog_action_is_a_watchdog_failure(self):
        for action in ('NONE', 'PAUSE', 'RESET', 'POWEROFF', 'SHUTDOWN',
                       'DEBUG', 'INJECTNMI'):
            with self.subTest(action=action):
                kind, detail = le.classify(watchdog(getattr(
                    libvirt, 'VIR_DOMAIN_EVENT_WATCHDOG_' + action)))
                self.assertEqual(le.WATCHDOG, kind)
                self.assertIn('action: %s' % action.lower(), detail)

    def test_io_error_kind_follows_qemu_action_and_keeps_the_reason(self):
        for action, kind in (
                (libvirt.VIR_DOMAIN_EVENT_IO_ERROR_PAUSE, le.IO_ERROR_PAUSE),
                (libvirt.VIR_DOMAIN_EVENT_IO_ERROR_REPORT,
                 le.IO_ERROR_REPORT),
                (libvirt.VIR_DOMAIN_EVENT_IO_ERROR_NONE, le.IO_ERROR_IGNORE)):
            with self.subTest(kind=kind):
                found, detail = le.classify(io_error(action))
                self.assertEqual(kind, found)
                self.assertIn('enospc', detail)
                self.assertIn('virtio-disk0', detail)

    def test_control_error(self):
        self.assertEqual(le.CONTROL_ERROR, self.kind(le.DomainEvent(
            VM, 'x', le.CONTROL_ERROR_EVENT)))
        self.assertIsNone(self.kind(le.DomainEvent(VM, 'x',
                                                   le.REBOOT_EVENT)))

    def test_detail_names_the_libvirt_event(self):
        _, detail = le.classify(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED))
        self.assertIn('STOPPED/FAILED', detail)


class TestConditions(unittest.TestCase):
    """A live event and the state read later name the same condition, so a
    reconnect recognises what it already saw."""

    def test_stopped_details_match_shutoff_reasons(self):
        for name in ('SHUTDOWN', 'DESTROYED', 'CRASHED', 'MIGRATED', 'SAVED',
                     'FROM_SNAPSHOT'):
            with self.subTest(name=name):
                self.assertEqual(
                    le.state_condition(libvirt.VIR_DOMAIN_SHUTOFF, getattr(
                        libvirt, 'VIR_DOMAIN_SHUTOFF_' + name)),
                    le.lifecycle_condition(
                        libvirt.VIR_DOMAIN_EVENT_STOPPED,
                        getattr(libvirt, 'VIR_DOMAIN_EVENT_STOPPED_' + name)))

    def test_qemu_gone_unasked_is_recorded_as_crashed(self):
        # libvirt's QEMU driver: event STOPPED/FAILED, state "shut off
        # (crashed)"; the state "shut off (failed)" is a failed start.
        self.assertEqual('shutoff:crashed', le.lifecycle_condition(
            libvirt.VIR_DOMAIN_EVENT_STOPPED,
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED))
        self.assertEqual('shutoff:start-failed', le.state_condition(
            libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_FAILED))

    def test_pause_and_crash_details_match_reasons(self):
        pairs = [
            ((libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR),
             (libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
              libvirt.VIR_DOMAIN_EVENT_SUSPENDED_IOERROR)),
            ((libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_WATCHDOG),
             (libvirt.VIR_DOMAIN_EVENT_SUSPENDED,
              libvirt.VIR_DOMAIN_EVENT_SUSPENDED_WATCHDOG)),
            ((libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED),
             (libvirt.VIR_DOMAIN_EVENT_CRASHED,
              libvirt.VIR_DOMAIN_EVENT_CRASHED_PANICKED)),
            ((libvirt.VIR_DOMAIN_RUNNING, libvirt.VIR_DOMAIN_RUNNING_BOOTED),
             (libvirt.VIR_DOMAIN_EVENT_STARTED,
              libvirt.VIR_DOMAIN_EVENT_STARTED_BOOTED)),
        ]
        for (st, reason), (event, detail) in pairs:
            with self.subTest(state=st, reason=reason):
                self.assertEqual(le.state_condition(st, reason),
                                 le.lifecycle_condition(event, detail))

    def test_state_table(self):
        shutoff, paused = libvirt.VIR_DOMAIN_SHUTOFF, libvirt.VIR_DOMAIN_PAUSED
        self.assertEqual('shutoff:daemon', le.state_condition(
            shutoff, libvirt.VIR_DOMAIN_SHUTOFF_DAEMON))
        self.assertEqual('shutoff:unknown', le.state_condition(shutoff, 42))
        self.assertEqual('paused:user', le.state_condition(
            paused, libvirt.VIR_DOMAIN_PAUSED_USER))
        self.assertEqual(le.RUNNING, le.state_condition(
            libvirt.VIR_DOMAIN_BLOCKED, 0))
        self.assertEqual('pmsuspended', le.state_condition(
            libvirt.VIR_DOMAIN_PMSUSPENDED, 0))
        self.assertEqual('shutting-down', le.state_condition(
            libvirt.VIR_DOMAIN_SHUTDOWN, 0))
        self.assertEqual('unknown', le.state_condition(
            libvirt.VIR_DOMAIN_NOSTATE, 0))

    def test_lifecycle_events_that_do_not_change_the_condition(self):
        for event in (libvirt.VIR_DOMAIN_EVENT_DEFINED,
                      libvirt.VIR_DOMAIN_EVENT_UNDEFINED,
                      libvirt.VIR_DOMAIN_EVENT_SHUTDOWN):
            self.assertIsNone(le.lifecycle_condition(event, 0))


class TestKinds(unittest.TestCase):

    def test_option_choices_are_the_kinds_and_causes_are_the_engines(self):
        opt = {o.name: o for o in libvirt_monitor_conf.OPTS}['failure_events']
        self.assertEqual(tuple(libvirt_kinds.FAILURE_KINDS),
                         tuple(opt.type.item_type.choices))
        self.assertEqual(list(libvirt_kinds.DEFAULT_FAILURE_KINDS),
                         opt.default)
        self.assertLessEqual(set(libvirt_kinds.CAUSES.values()),
                             set(events.VM_FAILURE_CAUSES))

    def test_defaults_leave_out_ignored_io_errors_and_control_errors(self):
        self.assertEqual({le.IO_ERROR_IGNORE, le.CONTROL_ERROR},
                         set(le.FAILURE_KINDS) -
                         set(le.DEFAULT_FAILURE_KINDS))

    def test_unknown_kind_is_refused(self):
        with self.assertRaisesRegex(ValueError, 'unknown failure kinds: '
                                                'crash'):
            le.DomainTracker(['crash', le.CRASHED])


class TestLiveEvents(unittest.TestCase):
    """DomainTracker.observe: once per episode, filter, one incident."""

    def test_sigkilled_qemu_is_reported_once(self):
        tracker = running_tracker()
        verdict = tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED))
        self.assertEqual((VM, 'stopped_failed', 'instance-0000002a'), (
            verdict.failure.uuid, verdict.failure.cause,
            verdict.failure.name))
        self.assertEqual(le.NOT_A_FAILURE, tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED)))

    def test_failed_start_is_not_a_failure(self):
        tracker = running_tracker()
        tracker.observe(stopped(libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED))
        verdict = tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED))
        self.assertEqual(le.NOT_A_FAILURE, verdict)
        self.assertEqual('shutoff:destroyed', tracker.condition(VM))
        # A domain never seen running (defined, failed to start) neither.
        self.assertEqual(le.NOT_A_FAILURE, tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED, OTHER)))

    def test_destroy_and_shutdown_are_not_failures(self):
        tracker = running_tracker()
        for detail in (libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED,
                       libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN):
            tracker.observe(started())
            self.assertEqual(le.NOT_A_FAILURE,
                             tracker.observe(stopped(detail)))

    def test_a_new_start_is_a_new_episode(self):
        tracker = running_tracker()
        failed = stopped(libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED)
        self.assertIsNotNone(tracker.observe(failed).failure)
        tracker.observe(started())
        self.assertIsNotNone(tracker.observe(failed).failure)

    def test_panic_then_crashed_stop_is_one_incident(self):
        tracker = running_tracker()
        self.assertEqual('guest_panic',
                         tracker.observe(panicked()).failure.cause)
        verdict = tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED))
        self.assertIsNone(verdict.failure)
        self.assertIn('same incident', verdict.why)

    def test_filtered_panic_does_not_hide_the_crash(self):
        tracker = running_tracker(failure_kinds=[le.CRASHED])
        verdict = tracker.observe(panicked())
        self.assertEqual((None, le.GUEST_PANIC), (verdict.failure,
                                                  verdict.kind))
        self.assertIn('failure_events', verdict.why)
        self.assertEqual('crashed', tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED)).failure.cause)

    def test_io_error_then_its_pause_is_one_report_with_the_reason(self):
        tracker = running_tracker()
        first = tracker.observe(io_error())
        self.assertEqual('io_error', first.failure.cause)
        self.assertIn('enospc', first.failure.detail)
        self.assertIsNone(tracker.observe(suspended(
            libvirt.VIR_DOMAIN_EVENT_SUSPENDED_IOERROR)).failure)
        # The operator fixes the disk and resumes: a new episode.
        tracker.observe(resumed())
        self.assertIsNotNone(tracker.observe(io_error()).failure)

    def test_io_errors_the_guest_sees_are_reported_once_per_episode(self):
        tracker = running_tracker()
        report = io_error(libvirt.VIR_DOMAIN_EVENT_IO_ERROR_REPORT)
        self.assertEqual(le.IO_ERROR_REPORT,
                         tracker.observe(report).failure.kind)
        for _ in range(5):
            self.assertIsNone(tracker.observe(report).failure)

    def test_ignored_io_errors_not_reported_by_default(self):
        verdict = running_tracker().observe(io_error(
            libvirt.VIR_DOMAIN_EVENT_IO_ERROR_NONE))
        self.assertEqual((None, le.IO_ERROR_IGNORE),
                         (verdict.failure, verdict.kind))

    def test_a_non_fatal_failure_does_not_hide_a_later_crash(self):
        tracker = running_tracker()
        tracker.observe(io_error(libvirt.VIR_DOMAIN_EVENT_IO_ERROR_REPORT))
        self.assertEqual('stopped_failed', tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED)).failure.cause)

    def test_watchdog_reset_then_reboot_is_a_new_episode(self):
        tracker = running_tracker()
        reset = watchdog(libvirt.VIR_DOMAIN_EVENT_WATCHDOG_RESET)
        self.assertIsNotNone(tracker.observe(reset).failure)
        self.assertIsNone(tracker.observe(reset).failure)
        tracker.observe(le.DomainEvent(VM, 'instance-0000002a',
                                       le.REBOOT_EVENT))
        self.assertIsNotNone(tracker.observe(reset).failure)

    def test_control_error_only_when_chosen(self):
        event = le.DomainEvent(VM, 'x', le.CONTROL_ERROR_EVENT)
        self.assertIsNone(running_tracker().observe(event).failure)
        tracker = running_tracker(failure_kinds=[le.CONTROL_ERROR])
        self.assertEqual('control_error',
                         tracker.observe(event).failure.cause)

    def test_domains_are_independent(self):
        tracker = running_tracker()
        tracker.observe(started(OTHER))
        failed = libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED
        self.assertIsNotNone(tracker.observe(stopped(failed)).failure)
        self.assertIsNotNone(tracker.observe(stopped(failed, OTHER)).failure)

    def test_undefined_domain_is_forgotten(self):
        tracker = running_tracker()
        tracker.observe(stopped(libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED))
        tracker.observe(lifecycle(libvirt.VIR_DOMAIN_EVENT_UNDEFINED, 0))
        self.assertEqual([], tracker.known())


class TestReconnect(unittest.TestCase):
    """DomainTracker.reconcile: failures missed while disconnected are
    reported once; nothing already known is reported again."""

    SHUTOFF = libvirt.VIR_DOMAIN_SHUTOFF

    def reconnect(self, tracker, *states):
        return tracker.reconcile(list(states), tracker.snapshot_started())

    def test_first_connection_reports_nothing(self):
        tracker = le.DomainTracker()
        found = tracker.reconcile(
            [state(self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED)],
            tracker.snapshot_started(), report=False)
        self.assertEqual([], found.failures)
        self.assertEqual('shutoff:crashed', tracker.condition(VM))

    def test_crash_while_libvirtd_was_down_is_reported_once(self):
        # libvirtd finds a QEMU that died while it was down "crashed".
        tracker = running_tracker()
        crashed = state(self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED)
        found = self.reconnect(tracker, crashed)
        self.assertEqual([(VM, 'crashed')], [
            (f.uuid, f.cause) for f in found.failures])
        self.assertIn('by a state check', found.failures[0].detail)
        self.assertIn('was running', found.failures[0].detail)
        self.assertEqual([], self.reconnect(tracker, crashed).failures)

    def test_failure_seen_live_is_not_reported_again_after_reconnect(self):
        tracker = running_tracker()
        self.assertIsNotNone(tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED)).failure)
        # libvirt records that stop as "shut off (crashed)".
        self.assertEqual([], self.reconnect(tracker, state(
            self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED)).failures)

    def test_panic_seen_live_is_not_reported_again_after_reconnect(self):
        tracker = running_tracker()
        tracker.observe(panicked())
        tracker.observe(stopped(libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED))
        self.assertEqual([], self.reconnect(tracker, state(
            self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED)).failures)

    def test_stop_asked_for_while_disconnected_is_not_a_failure(self):
        tracker = running_tracker()
        for reason in (libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED,
                       libvirt.VIR_DOMAIN_SHUTOFF_SHUTDOWN,
                       libvirt.VIR_DOMAIN_SHUTOFF_MIGRATED,
                       libvirt.VIR_DOMAIN_SHUTOFF_SAVED,
                       libvirt.VIR_DOMAIN_SHUTOFF_FAILED,
                       libvirt.VIR_DOMAIN_SHUTOFF_UNKNOWN):
            self.reconnect(tracker, RUNNING)
            self.assertEqual([], self.reconnect(
                tracker, state(self.SHUTOFF, reason)).failures)

    def test_daemon_shut_it_off_is_stopped_failed(self):
        tracker = running_tracker()
        found = self.reconnect(tracker, state(
            self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DAEMON))
        self.assertEqual(['stopped_failed'],
                         [f.cause for f in found.failures])

    def test_started_and_crashed_while_disconnected(self):
        # Known destroyed (by Nova); started and crashed during the outage.
        tracker = running_tracker()
        tracker.observe(stopped(libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED))
        found = self.reconnect(tracker, state(
            self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED))
        self.assertEqual(['crashed'], [f.cause for f in found.failures])

    def test_paused_by_io_error_or_watchdog_while_disconnected(self):
        for reason, cause in ((libvirt.VIR_DOMAIN_PAUSED_IOERROR, 'io_error'),
                              (libvirt.VIR_DOMAIN_PAUSED_WATCHDOG,
                               'watchdog')):
            with self.subTest(cause=cause):
                tracker = running_tracker()
                found = self.reconnect(tracker, state(
                    libvirt.VIR_DOMAIN_PAUSED, reason))
                self.assertEqual([cause], [f.cause for f in found.failures])

    def test_panicked_while_disconnected(self):
        tracker = running_tracker()
        found = self.reconnect(tracker, state(
            libvirt.VIR_DOMAIN_CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED))
        self.assertEqual(['guest_panic'], [f.cause for f in found.failures])

    def test_event_newer_than_the_read_state_wins(self):
        # Subscribed, snapshot mark taken, then the crash event arrives
        # while the states (read just before the crash) are on their way.
        tracker = running_tracker()
        since = tracker.snapshot_started()
        live = tracker.observe(stopped(
            libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED))
        self.assertIsNotNone(live.failure)
        found = tracker.reconcile([RUNNING], since)
        self.assertEqual([], found.failures)
        self.assertEqual('shutoff:crashed', tracker.condition(VM))
        # ...so the next reconnect does not report it a second time.
        self.assertEqual([], self.reconnect(tracker, state(
            self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED)).failures)

    def test_domain_born_and_failed_while_disconnected(self):
        tracker = running_tracker()
        found = self.reconnect(tracker, RUNNING, state(
            self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, uuid=OTHER,
            name='instance-0000002b'))
        self.assertEqual([(OTHER, 'instance-0000002b')],
                         [(f.uuid, f.name) for f in found.failures])

    def test_running_domain_gone_is_named_not_reported(self):
        tracker = running_tracker()
        found = self.reconnect(tracker)
        self.assertEqual(([], ['instance-0000002a']),
                         (found.failures, found.vanished))
        self.assertEqual([], tracker.known())

    def test_filter_applies_to_reconciled_failures(self):
        tracker = running_tracker(failure_kinds=[le.STOPPED_FAILED])
        self.assertEqual([], self.reconnect(tracker, state(
            self.SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED)).failures)

    def test_restart_during_outage_starts_a_new_episode(self):
        tracker = running_tracker()
        failed = stopped(libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED)
        self.assertIsNotNone(tracker.observe(failed).failure)
        self.reconnect(tracker, RUNNING)   # restarted meanwhile
        self.assertIsNotNone(tracker.observe(failed).failure)
