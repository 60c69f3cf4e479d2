"""The nova-ha-monitor service: its parts, built from the configuration.

- the host heartbeat (heartbeat.HostHeartbeat), when [monitor]
  host_heartbeat;
- one ProcessMonitor per enabled process group ([monitor_nova_compute],
  [monitor_libvirtd]);
- the libvirt event monitor (compute_hooks.libvirt_monitor), when
  [monitor] libvirt_events; it is imported only then, and a missing
  module or libvirt binding is logged while the rest keeps running.

A process group that cannot work as configured (a pid-file check without
a pid file, a broken pattern), peers listed without the segment's probe
key, or watchdog timings that would reset a healthy host, is a
MonitorConfigError raised before anything starts, with the option named.
"""

import importlib
import shlex
import time

from oslo_log import log as logging

from nova_ha.compute_hooks import heartbeat
from nova_ha.compute_hooks import isolation as isolation_lib
from nova_ha.compute_hooks import peers as peers_lib
from nova_ha.compute_hooks import process_checks
from nova_ha.compute_hooks import process_decision
from nova_ha.compute_hooks import process_monitor
from nova_ha.compute_hooks import publisher as publisher_lib
from nova_ha.compute_hooks import watchdog as watchdog_lib
from nova_ha.conf import monitor as monitor_conf
from nova_ha.servicegroup import channels
from nova_ha.servicegroup import self_fence

LOG = logging.getLogger(__name__)

PROCESS_SOURCE = 'process-monitor'
LIBVIRT_SOURCE = 'libvirt'


class MonitorConfigError(ValueError):
    """An option set that cannot work; the message names the option."""


def policy_from(options):
    return process_decision.RestartPolicy(
        confirm_checks=options.confirm_checks,
        max_restarts=options.max_restarts,
        restart_window=options.restart_window,
        backoff_initial=options.backoff_initial,
        backoff_factor=options.backoff_factor,
        backoff_max=options.backoff_max,
        start_timeout=options.start_timeout,
        start_grace=options.start_grace)


def check_from(group, options):
    """The check an option group asks for."""
    def need(name):
        if not getattr(options, name):
            raise MonitorConfigError('[%s] %s is required with check = %s'
                                     % (group, name, options.check))
    try:
        if options.check == monitor_conf.CHECK_SYSTEMD:
            need('systemd_unit')
            return process_checks.SystemdCheck(options.systemd_unit,
                                               options.check_timeout)
        if options.check == monitor_conf.CHECK_PIDFILE:
            need('pid_file')
            return process_checks.PidFileCheck(options.pid_file,
                                               options.command_pattern)
        need('command_pattern')
        return process_checks.CommandLineCheck(options.command_pattern)
    except ValueError as exc:
        if isinstance(exc, MonitorConfigError):
            raise
        raise MonitorConfigError('[%s] %s' % (group, exc))


def restart_from(group, options):
    """The restart command of an option group; None if there is none."""
    if options.restart_command:
        try:
            argv = shlex.split(options.restart_command)
        except ValueError as exc:
            raise MonitorConfigError('[%s] restart_command: %s' % (group,
                                                                    exc))
    elif options.check == monitor_conf.CHECK_SYSTEMD:
        argv = ['systemctl', 'restart', options.systemd_unit]
    elif options.max_restarts:
        raise MonitorConfigError(
            '[%s] restart_command is required with check = %s (or set '
            'max_restarts = 0 to only watch and report)'
            % (group, options.check))
    else:
        return None
    if not argv:
        raise MonitorConfigError('[%s] restart_command is empty' % group)
    return process_checks.RestartCommand(argv, options.restart_timeout)


def process_monitors(conf, publisher):
    """A ProcessMonitor for each enabled process group."""
    monitors = []
    for process, group in monitor_conf.PROCESS_GROUPS.items():
        options = conf[group]
        if not options.enabled:
            continue
        try:
            policy = policy_from(options)
        except ValueError as exc:
            raise MonitorConfigError('[%s] %s' % (group, exc))
        monitors.append(process_monitor.ProcessMonitor(
            process, check_from(group, options),
            restart_from(group, options), policy, publisher,
            options.check_interval))
    return monitors


def start_libvirt_monitor(conf, publisher):
    """The libvirt event monitor, started; None when it cannot run."""
    try:
        # Through sys.modules (not the package attribute), so a module
        # that cannot be imported is reported the same way every time.
        libvirt_monitor = importlib.import_module(
            'nova_ha.compute_hooks.libvirt_monitor')
        monitor = libvirt_monitor.LibvirtEventMonitor(conf, publisher)
        monitor.start()
    except ImportError as exc:
        LOG.error('libvirt event monitor unavailable (%s): VM failures on '
                  'this host reach the engine only through Nova\'s own '
                  'notifications; the other monitors run', exc)
        return None
    except Exception:
        LOG.exception('libvirt event monitor failed to start; the other '
                      'monitors run')
        return None
    return monitor


def peer_prober(conf, host, watchdog_report, coordination_ok=None):
    """The PeerProber of [monitor_peers], announcing ``watchdog_report()``
    and ``coordination_ok()`` in its answers; MonitorConfigError when the
    peers are listed without the segment's key (there is no unsigned
    mode: a forged answer would feed a host's watchdog, or announce one it
    does not have) or the probe address cannot be bound."""
    options = conf.monitor_peers
    try:
        if peers_lib.parse_peers(options.peers, host) and not options.key:
            raise MonitorConfigError(
                '[monitor_peers] key is required when peers are listed: '
                'set the same key on every host of the segment (e.g. from '
                'openssl rand -hex 32)')
        return peers_lib.PeerProber.from_conf(
            conf, host, watchdog_report=watchdog_report,
            coordination_ok=coordination_ok)
    except peers_lib.PeerConfigError as exc:
        raise MonitorConfigError(str(exc))
    except OSError as exc:
        raise MonitorConfigError('[monitor_peers] address %s, port %d: %s' % (
            options.address, options.port, exc))


class MonitorService:
    """Every monitor of one compute host, started and stopped together."""

    def __init__(self, conf, publisher=None):
        self.conf = conf
        self.host = conf.monitor.host
        if publisher is None:
            publisher = publisher_lib.from_conf(conf, self.host,
                                                PROCESS_SOURCE)
        self.publisher = publisher
        # Built (and so validated) before anything starts.
        self.processes = process_monitors(conf, publisher)
        self.heartbeat = heartbeat.HostHeartbeat.from_conf(conf, self.host) \
            if conf.monitor.host_heartbeat else None
        self.libvirt = None
        self.peers = None
        if conf.monitor_peers.enabled:
            self.peers = peer_prober(conf, self.host, self._watchdog_report,
                                     self._coordination_reached)
        if conf.watchdog.kind != 'none':
            options = conf.watchdog
            try:
                self_fence.check_monitor_timings(
                    options.timeout, options.feed_interval,
                    options.quorum_timeout,
                    conf.ha_servicegroup.heartbeat_interval,
                    conf.monitor_peers.probe_interval)
            except self_fence.UnsafeTimings as exc:
                raise MonitorConfigError(str(exc))
        self.feeder = None
        # Judged only when there is something to do and something to judge
        # from (a host with no heartbeat and no peers would always look
        # isolated).
        self.isolation = None
        if conf.isolation.response != isolation_lib.LEAVE and (
                self.heartbeat is not None or self.peers is not None):
            self.isolation = isolation_lib.IsolationResponse.from_conf(
                conf, self._coordination_ok_at, self._peer_heard_at)

    # -- the quorum the watchdog is fed on ------------------------------------

    def _coordination_ok_at(self):
        return self.heartbeat.last_ok if self.heartbeat else None

    def _peer_heard_at(self):
        return self.peers.last_heard_at() if self.peers else None

    def _coordination_reached(self):
        """Told the peers in every answer: the host heartbeat reached the
        coordination backend within [watchdog] quorum_timeout (None
        without a heartbeat: this monitor cannot tell)."""
        if self.heartbeat is None:
            return None
        ok_at = self.heartbeat.last_ok
        return ok_at is not None and \
            time.time() - ok_at <= self.conf.watchdog.quorum_timeout

    def has_quorum(self, within):
        """channels.holds_quorum, on what this monitor knows within
        ``within`` seconds: the heartbeat reached the coordination
        backend, or a majority of the peers answered our own probes
        (probes received from them do not count: see peers), or every
        peer that answered says it lost the backend too."""
        if self.peers is not None:
            state = self.peers.quorum_state()
            peers, now = self.peers.peers, state.now
            answered, lost = state.answered_at, state.backend_lost
        else:
            peers, now, answered, lost = (), time.monotonic(), {}, {}
        ok_at = self._coordination_ok_at()
        if ok_at is not None:
            # The heartbeat's wall-clock time, on the prober's clock.
            ok_at = now - (time.time() - ok_at)
        return channels.holds_quorum(peers, answered, now, within,
                                     coordination_ok_at=ok_at,
                                     backend_lost=lost)

    def _watchdog_report(self):
        return self.feeder.report() if self.feeder else None

    def _arm_watchdog(self):
        options = self.conf.watchdog
        if options.kind != 'none' and not (self.peers and self.peers.peers):
            # Fed on the coordination backend alone, it would reset this
            # host (and every other one so configured) whenever the
            # backend is down: a control-plane outage must cost no host.
            LOG.error('[watchdog] kind = %s but no [monitor_peers] peers '
                      'are configured: a watchdog fed on the coordination '
                      'backend alone would reset this host whenever the '
                      'backend is down, so none is armed, and engines cannot '
                      'use the watchdog rung for it', options.kind)
            return
        try:
            armed = watchdog_lib.arm_from_conf(self.conf)
        except watchdog_lib.WatchdogError as exc:
            LOG.error('%s: this host announces no watchdog, so engines '
                      'cannot use the watchdog rung for it', exc)
            return
        if armed is None:
            return
        self.feeder = watchdog_lib.QuorumFeeder(
            armed, self.has_quorum, options.feed_interval,
            options.quorum_timeout,
            peers=sorted(self.peers.peers) if self.peers else (),
            answer_window=self.peers.answer_window if self.peers else 0.0)
        self.feeder.start()

    def start(self):
        if not self.conf.monitor.event_key:
            # Not fatal: the processes are still restarted here; only the
            # engine's part depends on the events.
            LOG.warning('[monitor] event_key is not set: this host\'s '
                        'events are unsigned, and engines refuse them '
                        '([event_signing] required is true by default)')
        # The heartbeat first: restarting nova-compute must never look like
        # a dead host to the engine.
        if self.heartbeat is not None:
            if self.peers is not None:
                self.heartbeat.publish(
                    lambda: {'peers': self.peers.view().to_dict()})
            self.heartbeat.start()
            self.heartbeat.wait_first_beat(5.0)
        if self.peers is not None:
            self.peers.start()
        self._arm_watchdog()
        if self.isolation is not None:
            self.isolation.start()
        for monitor in self.processes:
            monitor.start()
        if self.conf.monitor.libvirt_events:
            self.libvirt = start_libvirt_monitor(
                self.conf, self.publisher.with_source(LIBVIRT_SOURCE))
        LOG.info('nova-ha-monitor running for host %s: heartbeat %s, '
                 'peers %s, watchdog %s, isolation response %s, '
                 'processes %s, libvirt events %s', self.host,
                 'on' if self.heartbeat else 'off',
                 len(self.peers.peers) if self.peers else 'off',
                 self.feeder.watchdog.kind if self.feeder else 'none',
                 self.conf.isolation.response,
                 ', '.join(m.process for m in self.processes) or 'none',
                 'on' if self.libvirt else 'off')

    def stop(self):
        """Stop every monitor, disarm the watchdog, then leave the host
        group."""
        if self.isolation is not None:
            self.isolation.stop()
        if self.feeder is not None:
            self.feeder.stop()
        if self.peers is not None:
            self.peers.stop()
        if self.libvirt is not None:
            try:
                self.libvirt.stop()
            except Exception:
                LOG.exception('stopping the libvirt event monitor failed')
        for monitor in self.processes:
            monitor.stop()
        if self.heartbeat is not None:
            self.heartbeat.stop()
