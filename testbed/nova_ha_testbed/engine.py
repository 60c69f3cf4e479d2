"""The recovery engine wired to the in-process HA cloud.

Real parts: Nova (API, conductor, scheduler, placement, computes) through
openstacksdk, oslo.messaging on the in-process ``fake://`` transport, tooz
leases (file driver, no server needed), the SQL history on SQLite.

Nova's versioned notifications reach the engine through the real
``nova_ha_forward`` driver (see NovaNotificationTap for how they are taken
from Nova's functional framework).

Monitor events are signed as in production: each host has a random event
key of its own (``event_keys``: [monitor] event_key on the host,
[event_signing] host_keys on the engine), and ``Monitors`` publishes each
host's events through the monitors' own EventPublisher, as
``nova-ha-monitor.<host>``.

Stand-in: the BMCs.  The in-process computes are threads in this process,
not machines with a baseboard controller, so ``SimulatedBMCs`` answers for
them: a host is "powered off" when its compute service is stopped, and a
host can be told to refuse fencing.  The fence drivers themselves are
tested against pyghmi's fakebmc and sushy-tools in tests/integration.
"""

import dataclasses
import datetime
import os
import secrets
import tempfile
import threading
import time
import uuid

from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.cmd import engine as engine_cmd
from nova_ha.compute_hooks import publisher as monitor_publisher
from nova_ha.conf import engine as engine_conf
from nova_ha.engine import core
from nova_ha.engine import daemon as engine_daemon
from nova_ha.engine import guards
from nova_ha.engine import process_failure
from nova_ha.engine import real_env
from nova_ha.engine import states
from nova_ha.engine import vm_failure
from nova_ha.fencing import base as fence_base
from nova_ha.history import store as history_store
from nova_ha.maintenance import locks as ha_locks
from nova_ha.notifier import forward
from nova_ha.notifier import intake as ha_intake
from nova_ha.notifier import listener
from nova_ha.notifier import nova as ha_nova
from nova_ha.notifier import signing
from nova_ha.servicegroup import confirm as sg_confirm

MONITOR_TOPIC = 'nova_ha_test'
NOVA_TOPIC = 'versioned_notifications_test'


class SimulatedBMCs:
    """Power state of the in-process hosts (see module docstring)."""

    def __init__(self, cloud_case):
        self.cloud = cloud_case
        self.broken = set()
        self.calls = []
        # What each BMC reports: 'on' until fenced or told otherwise.
        self.power = {}
        self._lock = threading.Lock()

    def fence(self, host):
        started = time.monotonic()
        with self._lock:
            self.calls.append(host)
        if host in self.broken:
            return fence_base.FenceResult(
                host=host, driver='simulated',
                outcome=fence_base.FenceOutcome.FAILED,
                power_state=fence_base.PowerState.UNKNOWN,
                detail='BMC unreachable (simulated)',
                elapsed_s=time.monotonic() - started, attempts=1)
        self.power[host] = 'off'
        compute = self.cloud.computes[host]
        try:
            compute.stop()
        except Exception:   # already stopped: "already off" is success
            pass
        return fence_base.FenceResult(
            host=host, driver='simulated',
            outcome=fence_base.FenceOutcome.FENCED,
            power_state=fence_base.PowerState.OFF,
            detail='powered off (simulated BMC)',
            elapsed_s=time.monotonic() - started, attempts=1)


    def power_state(self, host):
        if host in self.broken:
            return 'unknown'
        return self.power.get(host, 'on')


class NovaNotificationTap:
    """Hands the in-process Nova's versioned notifications to the real
    ``nova_ha_forward`` driver, which sends those the engine uses to the
    engine's Nova topic.

    Stand-in: Nova's functional framework swaps its notifier for one that
    keeps notifications in memory (its tests wait on them), so no notify
    driver of ours can be configured in it.  The tap reads them where the
    framework delivers them (its per-event-type subscriptions) and calls
    the forward driver with the message oslo.messaging's Notifier would
    have given it.
    """

    def __init__(self, cloud_case, transport, topic):
        conf = cfg.ConfigOpts()
        conf([], project='nova-ha-harness')
        engine_conf.register_opts(conf)
        conf.set_override('topic', topic, group='notification_forward')
        self.driver = forward.ForwardDriver(conf, [topic], transport)
        root = cloud_case.notifier.fake_versioned_notifier
        root.subscriptions = _TappedSubscriptions(root.subscriptions,
                                                  self._forward)

    def _forward(self, notification):
        message = {'message_id': str(uuid.uuid4()),
                   'publisher_id': notification['publisher_id'],
                   'event_type': notification['event_type'],
                   'priority': notification['priority'],
                   'payload': notification['payload'],
                   'timestamp': str(datetime.datetime.utcnow())}
        self.driver.notify({}, message, notification['priority'].lower(),
                           retry=0)


class _TappedSubscriptions:
    """Nova's fixture's subscriptions, each of which also forwards what it
    receives (every notifier the fixture prepares shares this object).

    The fixture only indexes its subscriptions by event type and clears
    them (nova/tests/fixtures/notifications.py), so that is all this
    offers."""

    def __init__(self, subscriptions, forward):
        self._subscriptions = subscriptions
        self._forward_to = forward

    def __getitem__(self, event_type):
        return _TappedSub(self._subscriptions[event_type], self._forward_to)

    def clear(self):
        self._subscriptions.clear()


class _TappedSub:
    def __init__(self, sub, forward):
        self._sub = sub
        self._forward_to = forward

    def received(self, notification):
        self._sub.received(notification)
        self._forward_to(notification)

    def wait_n(self, n, event, timeout):
        return self._sub.wait_n(n, event, timeout)


def event_keys(hosts):
    """A random event key for each of ``hosts``: {host: key}.  Each is
    what that host's [monitor] event_key would be; the engines get them
    all ([event_signing] host_keys)."""
    return {host: secrets.token_hex(32) for host in hosts}


def host_keys_option(keys):
    """``keys`` ({host: key}) as the value of [event_signing] host_keys."""
    return ','.join('%s:%s' % item for item in sorted(keys.items()))


class Monitors:
    """The nova-ha-monitors of a cloud's hosts, on the engine's topic.

    Each host's monitor publishes through the monitors' own EventPublisher
    (nova_ha.compute_hooks.publisher), as ``nova-ha-monitor.<host>``
    (signing.monitor_publisher_id), signing with that host's key from
    ``keys`` ({host: key}).  An event about a host without a key is an
    error here, not an unsigned message.  The keys appear in no repr and
    no log.
    """

    def __init__(self, transport, topic, keys):
        self._transport = transport
        self.topic = topic
        self._keys = dict(keys)
        self._publishers = {}
        self._lock = threading.Lock()

    def __repr__(self):
        return '%s(topic=%r, hosts=%s)' % (type(self).__name__, self.topic,
                                            sorted(self._keys))

    @property
    def hosts(self):
        return sorted(self._keys)

    def publisher(self, host):
        """The EventPublisher of ``host``'s monitor (one per host)."""
        with self._lock:
            found = self._publishers.get(host)
            if found is None:
                if host not in self._keys:
                    raise KeyError('no event key for host %r (hosts with '
                                   'one: %s)' % (host, ', '.join(self.hosts)))
                notifier = listener.monitor_notifier(
                    self._transport, self.topic,
                    signing.monitor_publisher_id(host))
                found = monitor_publisher.EventPublisher(
                    notifier, host, None, self._keys[host])
                self._publishers[host] = found
            return found

    def publish(self, event_type, host, **fields):
        """``host``'s monitor reports an event, signed; returns the payload
        sent."""
        return self.publisher(host).publish(event_type, **fields)


class EngineHarness:
    """Engine + listeners + the hosts' monitors around an HACloudTestCase.

    Every host of the cloud gets an event key; the engine is given them
    all unless ``settings`` names keys of its own (``event_keys``), and
    ``publish`` sends each event signed by its host's monitor.
    ``notifier`` publishes what it is given as is, unsigned, as
    ``nova-ha-monitor.test``: anyone on the bus.
    """

    def __init__(self, cloud_case, settings=None, forward_nova=True,
                 host_settings=None):
        self.cloud = cloud_case
        keys = event_keys(cloud_case.all_hosts())
        settings = settings or fast_settings()
        if not settings.event_keys:
            settings = dataclasses.replace(
                settings, event_keys=tuple(sorted(keys.items())))
        self.tmp = tempfile.mkdtemp(prefix='nova-ha-engine-')
        self.history = history_store.HistoryStore(
            'sqlite:///' + os.path.join(self.tmp, 'history.sqlite'))
        self.history.upgrade()
        self.bmcs = SimulatedBMCs(cloud_case)
        # The maintenance commands' locks (file driver).
        self.locks = ha_locks.ToozLocks(
            'file://' + os.path.join(self.tmp, 'locks'))
        self.nova = ha_nova.NovaGateway(cloud_case.sdk_connection())
        # The engine (nova_ha.engine): every kind of failure, its leases
        # in tooz (file driver).
        self.host_env = real_env.RealEnvironment(
            'engine-test', self.nova, self.history,
            real_env.ToozLeases('file://' + os.path.join(self.tmp,
                                                         'leases')),
            self.bmcs.fence, self.bmcs.power_state)
        self.daemon = engine_daemon.Daemon(
            self.host_env, host_settings or fast_core_settings())
        self.engine = engine_cmd.wire_intake(
            self.daemon, ha_intake.Recorder(self.history), settings)
        self.daemon.start()
        self.transport = messaging.get_notification_transport(
            cfg.CONF, url='fake://')
        self.listeners = listener.build_listeners(
            self.transport, self.engine, NOVA_TOPIC, MONITOR_TOPIC)
        if forward_nova:
            self.tap = NovaNotificationTap(cloud_case, self.transport,
                                           NOVA_TOPIC)
        for item in self.listeners:
            item.start()
        self.monitors = Monitors(self.transport, MONITOR_TOPIC, keys)
        self.notifier = listener.monitor_notifier(
            self.transport, MONITOR_TOPIC, 'nova-ha-monitor.test')

    def host_engine_busy(self):
        """An action in flight, or an incident in a state that acts."""
        if self.daemon.replica.inflight or self.host_env._events:
            return True
        now = time.time()
        for incident in self.history.list_incidents(open_only=True):
            if incident.state in _ACTING.get(incident.kind, ()):
                return True
            until = (incident.detail or {}).get('until')
            if until and until > now:
                return True
        return False

    def kill_host(self, host):
        """The hypervisor loses power: its nova-compute stops and its BMC
        reports it off."""
        self.cloud.computes[host].stop()
        self.bmcs.power[host] = 'off'

    def publish(self, event_type, host, **fields):
        """``host``'s monitor reports an event on our topic, signed with
        its key; returns the payload sent."""
        return self.monitors.publish(event_type, host, **fields)

    def wait_idle(self, timeout=120.0):
        """Wait until the listeners have delivered and the engine rests."""
        deadline = time.monotonic() + timeout
        seen = -1
        while time.monotonic() < deadline:
            count = len(self.history.query())
            if count == seen and not self.host_engine_busy():
                return
            seen = count
            time.sleep(0.3)
        raise AssertionError('engine still busy after %.0f s' % timeout)

    def stop(self):
        for item in self.listeners:
            item.stop()
        for item in self.listeners:
            item.wait()
        self.daemon.stop()
        self.host_env.leases.stop()
        self.locks.stop()
        self.history.close()


# States in which an incident acts (waits on Nova or a BMC), by kind.
_ACTING = {
    states.KIND: (states.DETECTED, states.CONFIRMING, states.FENCING,
                  states.FENCED, states.EVACUATING),
    # (A VM incident that waits in reported, for its host's incident or
    # its dead nova-compute, is at rest.)
    vm_failure.KIND: (vm_failure.RESTARTING, vm_failure.MIGRATING),
    process_failure.KIND: (process_failure.REPORTED,),
}
_CORE_NAMES = {f.name for f in dataclasses.fields(core.Settings)}
_STORM_NAMES = {'storm_max_share': 'max_share',
                'storm_settle_time': 'settle_time',
                'storm_burst_hosts': 'burst'}
_INTAKE_NAMES = {f.name for f in dataclasses.fields(
    ha_intake.IntakeSettings)}


def _check_names(overrides):
    unknown = set(overrides) - _INTAKE_NAMES - _CORE_NAMES - \
        set(_STORM_NAMES)
    if unknown:
        raise TypeError('unknown settings: %s' % ', '.join(sorted(unknown)))


def fast_settings(**overrides):
    """The intake's settings for tests; ``overrides`` may name the
    engine's settings too (see fast_core_settings), ignored here."""
    _check_names(overrides)
    return ha_intake.IntakeSettings(**{
        k: v for k, v in overrides.items() if k in _INTAKE_NAMES})


def core_settings(base=None, **overrides):
    """core.Settings from the names the engine's options use; names of
    the intake's settings are ignored here."""
    _check_names(overrides)
    values = dict(base or {})
    storm = {_STORM_NAMES[k]: v for k, v in overrides.items()
             if k in _STORM_NAMES}
    values.update({k: v for k, v in overrides.items() if k in _CORE_NAMES})
    values['storm'] = dataclasses.replace(
        values.get('storm', guards.StormSettings()), **storm)
    values.setdefault('default_fence_driver', 'simulated')
    return core.Settings(**values)


def fast_core_settings(**overrides):
    """Short waits for tests (see fast_settings)."""
    return core_settings(dict(
        reconcile_interval=1.0, power_read_interval=0.5,
        fence_retry_delay=0.0, fence_attempts=2, evacuation_timeout=90.0,
        nova_down_wait=90.0, vm_restart_backoff=(0.2, 1.0),
        confirm=sg_confirm.ConfirmThresholds(max_wait_s=30.0)), **overrides)


def production_like_settings(**overrides):
    """The intake's defaults (as nova-ha.conf ships them: signed monitor
    events required, the EngineHarness giving the engine its hosts'
    keys), with ``overrides`` of its fields."""
    return fast_settings(**overrides)
