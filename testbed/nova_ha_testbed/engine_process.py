"""nova-ha-engine as its own process against the in-process cloud.

This is the production shape: the engine is a service apart from Nova.  It
reaches Nova's REST API over HTTP, the bus over RabbitMQ and the BMC over
IPMI, and it never shares an interpreter (or its lock) with Nova's services.

* ``NovaAPIServer`` serves the in-process cloud's nova-api on a loopback
  port.  It is the same paste application Nova's fixture loads, but served
  over real HTTP instead of wsgi-intercept.
* ``EngineProcess`` writes a nova-ha.conf and a clouds.yaml, starts the
  installed ``nova-ha-engine`` console script, and waits until it listens.

A deployment whose leases have a TTL (a coordination URL with
``lock_timeout``) gets side-effect timeouts that fit in them
(``side_effect_options``): the engine starts a fence or a Nova call only
with enough of its lease left and cuts it off when the lease would end, so
the shipped timeouts (60 s fences, 30 s Nova calls) would be cut by a
test's 5 s leases.  An engine that says at start that its side effects do
not fit its leases fails the deployment.

Monitor events are signed: a deployment gives each host of the cloud a
random event key, writes them all into the engine's ``[event_signing]
host_keys`` and publishes each host's events signed with its key, as
``nova-ha-monitor.<host>`` (see nova_ha_testbed.engine.Monitors), since
the engine refuses anything else by default.

Stand-in: keystone.  Nova's fixture replaces keystone's middleware with a
stub that takes the caller from X-Auth-* headers.  The server adds an
admin's headers to every request, which is what an admin's token would
give.  clouds.yaml therefore says ``auth_type: none``.
"""

import collections
import dataclasses
import os
import signal
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from wsgiref import simple_server

from nova.api import wsgi as nova_wsgi
from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.cmd import engine as engine_cmd
from nova_ha.history import store as history_store

from nova_ha_testbed import engine as engine_harness

ENGINE_READY = 'nova-ha-engine listening on'
# What nova-ha-engine logs at start when a side effect may outlast what is
# left of a lease (nova_ha.cmd.engine.check_lease_time).
LEASE_TOO_SHORT = 'the engine will cut every such side effect off'


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):   # one line per request would flood
        pass


class NovaAPIServer:
    """The in-process cloud's nova-api on http://127.0.0.1:PORT/v2.1."""

    def __init__(self, cloud_case):
        app = nova_wsgi.Loader().load_app('osapi_compute')
        identity = {'HTTP_' + name.upper().replace('-', '_'): value
                    for name, value in cloud_case.admin_headers().items()}

        # (monotonic start, seconds, method, path, query) of the latest
        # requests: what the engine asked of Nova, for a bench to show.
        self.requests = collections.deque(maxlen=10000)

        def as_admin(environ, start_response):
            environ.update(identity)
            started = time.monotonic()
            try:
                return app(environ, start_response)
            finally:
                self.requests.append((
                    started, time.monotonic() - started,
                    environ['REQUEST_METHOD'], environ['PATH_INFO'],
                    environ.get('QUERY_STRING', '')))
        self._server = simple_server.make_server(
            '127.0.0.1', 0, as_admin,
            server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self.endpoint = 'http://127.0.0.1:%d/v2.1' % (
            self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name='nova-api-http', daemon=True)
        self._thread.start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class _ThreadingWSGIServer(socketserver.ThreadingMixIn,
                           simple_server.WSGIServer):
    daemon_threads = True


CLOUDS_YAML = """clouds:
  %(cloud)s:
    auth_type: none
    compute_endpoint_override: %(endpoint)s
    compute_api_version: '2'
"""

ENGINE_CONF = """[DEFAULT]
transport_url = %(transport_url)s
debug = false

[engine]
cloud = %(cloud)s
nova_topic = %(nova_topic)s
monitor_topic = %(monitor_topic)s
coordination_url = %(coordination_url)s
%(engine_options)s

[history]
connection = %(history_url)s

[ha_servicegroup]
embedded_path = %(workdir)s/liveness
%(servicegroup_options)s
%(event_signing)s%(fencing_options)s%(fencing)s
"""


def lease_ttl(coordination_url):
    """The TTL of the leases a coordination URL gives (its
    ``lock_timeout``), or None (leases held until released)."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(
        coordination_url).query)
    values = query.get('lock_timeout')
    return float(values[0]) if values else None


# One BMC call of a test's fakebmc takes about 0.1 s.
SHORT_BMC_CALL = 1.0


def side_effect_options(ttl):
    """([engine] options, [fencing] options): Nova's and the BMC's
    timeouts for an engine whose leases live ``ttl`` seconds (none for
    None: the shipped ones).

    Each side effect must fit in what is left of a lease between two
    renewals (nova_ha.cmd.engine.check_lease_time), less a margin for the
    look under way: a fence in ``[fencing] timeout`` plus two BMC calls
    (nova_ha.cmd.engine.make_fence_deadline), a Nova call in ``[engine]
    nova_api_timeout``.
    """
    if ttl is None:
        return {}, {}
    left = ttl * (engine_cmd.RENEWALS - 1) / engine_cmd.RENEWALS
    margin = left / 5
    return ({'nova_api_timeout': round(max(1.0, left - margin), 2)},
            {'timeout': round(max(1.0, left - margin - 2 * SHORT_BMC_CALL),
                              2),
             'request_timeout': SHORT_BMC_CALL})


@dataclasses.dataclass(frozen=True)
class Shared:
    """What the replicas of one deployment share."""

    nova_topic: str
    monitor_topic: str
    coordination_url: str
    history_url: str

    @classmethod
    def fresh(cls, workdir, coordination_url=None, history_url=None):
        suffix = uuid.uuid4().hex[:8]
        return cls('nova_ha_nova_' + suffix, 'nova_ha_monitor_' + suffix,
                   coordination_url or 'file://%s/locks' % workdir,
                   history_url or 'sqlite:///%s' % os.path.join(
                       workdir, 'history.sqlite'))


class EngineProcess:
    """The ``nova-ha-engine`` console script, configured for one cloud.

    ``fencing`` maps a host to the options of its [fencing_host:HOST]
    section; ``engine_options`` are [engine] options (the defaults
    otherwise, as nova-ha.conf ships them, but for the side effects'
    timeouts of leases with a TTL: see side_effect_options), and
    ``fencing_options`` [fencing] options (likewise); ``host_keys``
    ({host: key}) are the hosts' event keys ([event_signing] host_keys;
    none: the engine refuses every monitor event, as it would in
    production).
    """

    def __init__(self, nova_endpoint, transport_url, fencing=None,
                 engine_options=None, workdir=None, shared=None,
                 servicegroup_options=None, host_keys=None,
                 fencing_options=None):
        """``shared``: what replicas of one deployment have in common
        (a Shared: topics, coordination URL, history URL); each engine
        has its own by default."""
        self.workdir = workdir or tempfile.mkdtemp(prefix='nova-ha-engine-')
        suffix = uuid.uuid4().hex[:8]
        shared = shared or Shared.fresh(self.workdir)
        self.shared = shared
        self.nova_topic = shared.nova_topic
        self.monitor_topic = shared.monitor_topic
        cloud = 'nova-ha-' + suffix
        self.clouds_yaml = os.path.join(self.workdir, 'clouds.yaml')
        with open(self.clouds_yaml, 'w') as f:
            f.write(CLOUDS_YAML % {'cloud': cloud,
                                   'endpoint': nova_endpoint})
        sections = []
        for host, options in sorted((fencing or {}).items()):
            sections.append('\n[fencing_host:%s]\n' % host + ''.join(
                '%s = %s\n' % item for item in sorted(options.items())))
        engine_defaults, fencing_defaults = side_effect_options(
            lease_ttl(shared.coordination_url))
        engine_options = dict(engine_defaults, **(engine_options or {}))
        fencing_options = dict(fencing_defaults, **(fencing_options or {}))
        event_signing = ''
        if host_keys:
            event_signing = '\n[event_signing]\nhost_keys = %s\n' % (
                engine_harness.host_keys_option(host_keys))
        self.config_file = os.path.join(self.workdir, 'nova-ha.conf')
        # It holds the hosts' keys (and BMC passwords): its owner's only.
        descriptor = os.open(self.config_file,
                             os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, 'w') as f:
            f.write(ENGINE_CONF % {
                'transport_url': transport_url, 'cloud': cloud,
                'nova_topic': self.nova_topic,
                'monitor_topic': self.monitor_topic,
                'workdir': self.workdir,
                'coordination_url': shared.coordination_url,
                'history_url': shared.history_url,
                'engine_options': ''.join(
                    '%s = %s\n' % item
                    for item in sorted((engine_options or {}).items())),
                'servicegroup_options': ''.join(
                    '%s = %s\n' % item
                    for item in sorted((servicegroup_options or {}).items())),
                'event_signing': event_signing,
                'fencing_options': ''.join(
                    ['\n[fencing]\n'] + ['%s = %s\n' % item for item in
                                         sorted(fencing_options.items())])
                if fencing_options else '',
                'fencing': ''.join(sections)})
        self.log_file = os.path.join(self.workdir, 'engine.log')
        self.history = None
        self.monitors = None    # the hosts' monitors, once on a bus
        self.api_server = None  # the NovaAPIServer it talks to, if ours
        self._process = None

    def start(self, timeout=60.0):
        command = os.path.join(os.path.dirname(sys.executable),
                               'nova-ha-engine')
        env = dict(os.environ, OS_CLIENT_CONFIG_FILE=self.clouds_yaml)
        started_at = len(self.log())      # a restart appends to the log
        with open(self.log_file, 'ab') as log:
            self._process = subprocess.Popen(
                [command, '--config-file', self.config_file],
                stdout=log, stderr=subprocess.STDOUT, env=env)
        self.wait_for_log(ENGINE_READY, timeout, after=started_at)
        complaints = [line for line in self.log()[started_at:].splitlines()
                      if LEASE_TOO_SHORT in line]
        if complaints:
            self.stop()
            raise RuntimeError('nova-ha-engine says its side effects do not '
                               'fit its leases:\n%s' % '\n'.join(complaints))
        if self.history is None:
            self.history = history_store.HistoryStore(
                self.shared.history_url)
        return self

    @property
    def pid(self):
        return self._process.pid

    def kill(self):
        """SIGKILL: the process dies at once, holding what it held."""
        self._process.kill()
        self._process.wait(10)

    def terminate(self, timeout=120.0, signal=signal.SIGTERM):
        """SIGTERM, as systemd stops the service (or ``signal``); its exit
        code once it has handed its incidents over and exited."""
        self._process.send_signal(signal)
        return self._process.wait(timeout)

    def publish(self, event_type, host, **fields):
        """``host``'s monitor reports an event on the engine's topic,
        signed with its key; returns the payload sent."""
        return self.monitors.publish(event_type, host, **fields)

    def wait_for_log(self, text, timeout=60.0, after=0):
        """Wait until the engine has logged ``text`` (after the first
        ``after`` characters of its log)."""
        deadline = time.monotonic() + timeout
        while text not in self.log()[after:]:
            if self._process.poll() is not None:
                raise RuntimeError('nova-ha-engine exited with %s:\n%s' % (
                    self._process.returncode, self.log()[-4000:]))
            if time.monotonic() > deadline:
                raise RuntimeError('nova-ha-engine did not log %r within '
                                   '%.0f s:\n%s' % (text, timeout,
                                                    self.log()[-4000:]))
            time.sleep(0.1)

    def log(self):
        try:
            with open(self.log_file, errors='replace') as f:
                return f.read()
        except FileNotFoundError:
            return ''

    def alive(self):
        return self._process is not None and self._process.poll() is None

    def wait_recovered(self, host, timeout=600.0):
        """Wait until the engine has closed a recovery of ``host``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            incidents = self.history.list_incidents(host=host)
            if incidents and not any(i.closed_at is None
                                     for i in incidents):
                return incidents
            if not self.alive():
                raise RuntimeError('nova-ha-engine died:\n%s'
                                   % self.log()[-4000:])
            time.sleep(0.2)
        raise AssertionError('no closed recovery of %s after %.0f s; its '
                             'incidents:\n%s\n--- %s\n%s' % (
                                 host, timeout, self.story(host),
                                 self.log_file, self.log()[-4000:]))

    def story(self, host):
        """``host``'s incidents and their records in the history, one line
        each (for a failure's message)."""
        lines = []
        for incident in self.history.list_incidents(host=host):
            lines.append('%s %s (opened %s, closed %s)' % (
                incident.key, incident.state, incident.opened_at,
                incident.closed_at))
            lines.extend('  %s [%s/%s] g%s %s' % (
                r.at.strftime('%H:%M:%S.%f'), r.kind, r.outcome, r.token,
                r.message) for r in self.history.query(
                    incident=incident.key))
        return '\n'.join(lines) or '(none)'

    def stop(self, timeout=30.0):
        if self.history is not None:
            self.history.close()
        if not self.alive():
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)


def deploy_replicas(cloud_case, transport_url, count, shared,
                    fencing=None, engine_options=None, start=True,
                    servicegroup_options=None):
    """``count`` nova-ha-engine replicas sharing ``shared`` (one history,
    one coordination backend, one pair of topics: each message reaches
    one replica), against ``cloud_case`` served over HTTP.  ``shared``
    may be a list, one per replica (each reaching the same backends by
    its own address, a proxy for example).  Each host of the cloud has an
    event key, which every replica is given.  Returns the
    EngineProcesses, started unless ``start`` is False; their ``publish``
    sends monitor events, signed."""
    api_server = NovaAPIServer(cloud_case)
    cloud_case.addCleanup(api_server.stop)
    each = shared if isinstance(shared, (list, tuple)) else [shared] * count
    keys = engine_harness.event_keys(cloud_case.all_hosts())
    engines = []
    for index in range(count):
        engine = EngineProcess(api_server.endpoint, transport_url,
                               fencing=fencing,
                               engine_options=engine_options,
                               shared=each[index],
                               servicegroup_options=servicegroup_options,
                               host_keys=keys)
        cloud_case.addCleanup(engine.stop)
        engine.api_server = api_server
        engines.append(engine)
    if start:
        for engine in engines:
            engine.start()
    shared = each[0]
    transport = messaging.get_notification_transport(cfg.CONF,
                                                     url=transport_url)
    cloud_case.addCleanup(transport.cleanup)
    engine_harness.NovaNotificationTap(cloud_case, transport,
                                       shared.nova_topic)
    monitors = engine_harness.Monitors(transport, shared.monitor_topic, keys)
    for engine in engines:
        engine.monitors = monitors
    return engines


def deploy(cloud_case, transport_url, workdir=None, fencing=None,
           engine_options=None):
    """nova-ha-engine deployed against ``cloud_case``, as in production.

    The cloud's nova-api is served over HTTP, the engine is started with
    an event key for each host of the cloud, and Nova's notifications are
    forwarded to it over ``transport_url``.  Cleanups are registered on
    the case.  Returns the started EngineProcess; its ``publish`` sends
    monitor events, signed.
    """
    api_server = NovaAPIServer(cloud_case)
    cloud_case.addCleanup(api_server.stop)
    keys = engine_harness.event_keys(cloud_case.all_hosts())
    engine = EngineProcess(api_server.endpoint, transport_url,
                           fencing=fencing, engine_options=engine_options,
                           workdir=workdir, host_keys=keys)
    cloud_case.addCleanup(engine.stop)
    engine.start()
    engine.api_server = api_server
    transport = messaging.get_notification_transport(cfg.CONF,
                                                     url=transport_url)
    cloud_case.addCleanup(transport.cleanup)
    engine_harness.NovaNotificationTap(cloud_case, transport,
                                       engine.nova_topic)
    engine.monitors = engine_harness.Monitors(transport, engine.monitor_topic,
                                              keys)
    return engine
