"""nova-ha-engine: the recovery engine service.

    nova-ha-engine --config-file /etc/nova-ha/nova-ha.conf

Reads [engine], [fencing], [history] and oslo.messaging's transport_url
from its config; Nova's admin credentials come from clouds.yaml
([engine] cloud).  One engine (nova_ha.engine, a level-triggered loop
that finds every open incident and every dead host by itself) recovers
host, VM and process failures; the intake (nova_ha.notifier.intake) hands
it the monitors' reports.
"""

import signal
import sys
import threading

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_ha import conf as ha_conf
from nova_ha.notifier import intake as ha_intake
from nova_ha.notifier import listener
from nova_ha.notifier import nova as ha_nova

LOG = logging.getLogger(__name__)


def intake_settings_from(conf):
    """The intake's settings: how monitors' messages are checked."""
    return ha_intake.IntakeSettings(
        event_keys=tuple(sorted((conf.event_signing.host_keys or {})
                                .items())),
        signing_required=conf.event_signing.required,
        signing_max_age=conf.event_signing.max_age)


def core_settings_from(conf):
    """The engine's settings (nova_ha.engine.settings), for every kind of
    incident."""
    import functools

    from nova_ha import fencing
    from nova_ha.engine import settings
    return settings.from_conf(
        conf, fence_driver_of=functools.lru_cache(maxsize=None)(
            lambda host: fencing.driver_name(host, conf)))


def make_fencer(conf):
    from nova_ha import fencing
    return lambda host: fencing.fence_host(host, conf)


def make_fence_deadline(conf):
    """host -> the longest its fence may take: the procedure checks
    [fencing] timeout between BMC calls, so one call (the host's
    request_timeout) may overrun it, and closing the BMC session is one
    more; the first read and power-off request take two calls whatever
    the timeout."""
    from nova_ha import fencing

    def deadline(host):
        try:
            call = fencing.load_bmc_config(host, conf).options[
                'request_timeout']
        except fencing.FenceConfigError:
            call = conf.fencing.request_timeout    # fails at once anyway
        return max(conf.fencing.timeout, call) + 2 * call
    return deadline


def make_power_reader(conf):
    """BMC power state for the second-channel confirmation; None when the
    host has no BMC to ask (no configuration, or the noop driver)."""
    from nova_ha import fencing

    def read(host):
        try:
            driver = fencing.fencer_for(host, conf)
        except fencing.FenceConfigError:
            return None
        if driver.name == 'noop':
            return None
        try:
            return driver.get_power_state().value
        finally:
            driver.close()
    return read


def check_at_start(conf, nova):
    """Say at start what would otherwise surface only when a host dies.

    Each host's fencing configuration is loaded (a host that cannot be
    fenced is never evacuated: an error now, not at 3 a.m.), and Nova is
    asked for its compute services (reachable, credentials accepted).
    Neither stops the engine: Nova may come up later and a section may be
    fixed with a restart.  Both also take first-call costs (driver entry
    points and imports, the SDK's version discovery) out of the first
    recovery.
    """
    from nova_ha import fencing
    ready, broken = fencing.check_configured_hosts(conf)
    for host, error in sorted(broken.items()):
        LOG.error('fencing of %s is not usable: %s; if %s fails it will '
                  'not be evacuated', host, error, host)
    LOG.info('fencing configured for %d host(s)%s', len(ready),
             ': ' + ', '.join('%s (%s)' % item for item in sorted(
                 ready.items())) if ready else '')
    try:
        services = nova.compute_services()
    except Exception as e:
        LOG.warning('Nova not reachable at start: %s (asked again when an '
                    'event needs it)', e)
    else:
        LOG.info('Nova reachable: %d compute service(s)', len(services))


def start_liveness_watcher(conf, record, board, wake):
    """Feed host deaths seen in the heartbeats to the engine.

    Two tooz groups are watched: nova-compute's (the one Nova's nova_ha
    servicegroup driver answers from) and nova-ha-monitor's host group.
    Their join (nova_ha.servicegroup.host_join) reports a host down only
    when every heartbeat it has is gone; each verdict is written to the
    liveness board the host-failure engine reads, which then looks at
    once.  Returns the watchers (to stop them).
    """
    from nova_ha.compute_hooks import heartbeat as host_heartbeat
    from nova_ha import servicegroup
    from nova_ha.servicegroup import host_join

    def report(host, verdict, reason):
        if verdict == host_join.COMPUTE_ONLY:
            record(
                'decision', 'nova-compute on %s stopped heartbeating but '
                'the host heartbeat is alive: not a host failure, not '
                'fencing (nova-ha-monitor restarts nova-compute and '
                'reports process.down if it cannot)' % host, host=host,
                outcome='skip')
        board.set(host, verdict != host_join.HOST_DOWN)
        wake()

    join = host_join.HostLivenessJoin(report)
    url = servicegroup.configured_url(conf)
    down_time = conf.ha_servicegroup.down_time
    watchers = [
        servicegroup.HostLivenessWatcher(
            url, servicegroup.group_for_topic('compute'),
            join.on_compute_change, down_time=down_time),
        servicegroup.HostLivenessWatcher(
            host_heartbeat.host_group_url(url), host_heartbeat.HOST_GROUP,
            join.on_host_change,
            down_time=down_time)]
    for watcher in watchers:
        watcher.start()
    return watchers


def wire_intake(daemon, record, settings, now=ha_intake.utcnow):
    """The intake, handing reports to ``daemon`` (the engine's loop)."""

    def host_report(host, kind):
        daemon.env.report(host, kind)
        daemon.wake()

    from nova_ha.engine import model

    def event(kind, host, subject, cause, at):
        daemon.env.report_event(model.Report(kind, host, subject, cause, at))
        daemon.wake()
    return ha_intake.Intake(record, settings, now, host_reports=host_report,
                            events=event, on_nova_news=daemon.news)


def build_engine(conf, nova, history, name=None):
    """The engine (nova_ha.engine) for this process: its environment,
    and the daemon that runs its loop."""
    import os
    import socket

    from nova_ha.engine import daemon as engine_daemon
    from nova_ha.engine import real_env
    me = name or '%s:%d' % (socket.gethostname(), os.getpid())
    from nova_ha import servicegroup
    from nova_ha.servicegroup import peer_views
    leases = real_env.ToozLeases(conf.engine.coordination_url,
                                 'nova-ha-engine-' + me)
    env = real_env.RealEnvironment(
        me, nova, history, leases, make_fencer(conf),
        make_power_reader(conf),
        peer_reader=peer_views.PeerViewReader(
            servicegroup.configured_url(conf), 'nova-ha-engine-peers-' + me),
        nova_timeout=conf.engine.nova_api_timeout,
        fence_deadline=make_fence_deadline(conf))
    renew_every = None if leases.ttl is None else leases.ttl / RENEWALS
    check_lease_time(conf, leases.ttl, renew_every, env.side_effect_timeout)
    return engine_daemon.Daemon(
        env, core_settings_from(conf),
        request_workers=conf.engine.evacuation_request_workers,
        renew_every=renew_every)


# Renewals of each lease within its lifetime while the loop waits: what
# is left of a lease when a side effect starts is at least
# (RENEWALS - 1) / RENEWALS of it, less the look under way.
RENEWALS = 4


def check_lease_time(conf, ttl, renew_every, side_effect_timeout):
    """Say at start when a side effect may take longer than what is left
    of a lease between renewals: the executor cuts it off when the lease
    would end, so a slow BMC or Nova may never get to finish it.  Returns
    the complaints."""
    if ttl is None:
        return []            # leases without a TTL: held until released
    from nova_ha.engine import model
    from nova_ha.fencing import registry
    bounds = [('a Nova call ([engine] nova_api_timeout)',
               side_effect_timeout(model.ForceDown()))]
    fences = {}
    for host in registry.configured_hosts(conf):
        seconds = side_effect_timeout(model.Fence(host=host))
        fences.setdefault(seconds, []).append(host)
    bounds += [('the fence of %s ([fencing] timeout and the BMC calls that '
                'may overrun it)' % _some(hosts), seconds)
               for seconds, hosts in sorted(fences.items())]
    left = ttl - renew_every
    complaints = [(what, seconds) for what, seconds in bounds
                  if seconds > left]
    for what, seconds in complaints:
        LOG.error('%s may take %.1f s, but a lease of [engine] '
                  'coordination_url (lock_timeout %.0f s) may have only %.1f '
                  's left between renewals: the engine will cut every such '
                  'side effect off when its lease would end, and a slow one '
                  'never finishes. Raise lock_timeout above %.0f s or '
                  'shorten that timeout.', what, seconds, ttl, left,
                  seconds * RENEWALS / (RENEWALS - 1))
    return complaints


def _some(hosts, shown=3):
    more = len(hosts) - shown
    return ', '.join(hosts[:shown]) + (' and %d more' % more if more > 0
                                       else '')


def main(argv=None):
    conf = ha_conf.CONF
    logging.register_options(conf)
    messaging.set_transport_defaults('nova-ha')
    conf(sys.argv[1:] if argv is None else argv, project='nova-ha',
         prog='nova-ha-engine')
    logging.setup(conf, 'nova-ha')
    from nova_ha.history import store as history_store

    history = history_store.HistoryStore(
        conf.history.connection,
        statement_timeout=conf.history.statement_timeout)
    history.upgrade()
    nova = ha_nova.NovaGateway.from_cloud(
        conf.engine.cloud, timeout=conf.engine.nova_api_timeout)
    check_at_start(conf, nova)
    engine = build_engine(conf, nova, history)
    record = ha_intake.Recorder(history)
    intake = wire_intake(engine, record, intake_settings_from(conf))
    transport = messaging.get_notification_transport(conf)
    listeners = listener.build_listeners(transport, intake,
                                         conf.engine.nova_topic,
                                         conf.engine.monitor_topic)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    # SIGHUP is a restart, not a reload: the engine hands its incidents
    # over as on SIGTERM and exits, and systemd (Restart=always) starts
    # it again on the new configuration.
    signal.signal(signal.SIGHUP, lambda *a: stop.set())
    for item in listeners:
        item.start()
    watchers = start_liveness_watcher(conf, record,
                                      engine.env.liveness_board,
                                      engine.wake)
    engine.start()
    LOG.info('nova-ha-engine listening on %s and %s',
             conf.engine.nova_topic, conf.engine.monitor_topic)
    stop.wait()
    # The hand-over first: stop looking, let the actions under way
    # finish, give the leases up, so another replica takes the incidents
    # over while this one winds down its listeners.
    LOG.info('stopping: handing the incidents over')
    engine.stop()
    for watcher in watchers:
        watcher.stop()
    for item in listeners:
        item.stop()
    for item in listeners:
        item.wait()
    engine.env.leases.stop()
    history.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
