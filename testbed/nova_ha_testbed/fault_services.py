"""Real services that fault tests may cut, stop and restart.

The machine's shared services (Redis on 6379, PostgreSQL on 5432, ...) are
used by other tests at the same time, so a fault test must not stop them.
This module gives each test its own instance instead, or a way in that can
be cut:

* ``TcpProxy``: a loopback TCP proxy in front of any service.  ``cut()`` is
  a network partition (bytes stop flowing, sockets stay open), ``restore()``
  ends it.
* ``PrivateRedis``: a redis-server of the test's own, without persistence,
  so a restart loses every key, as a real one would.
* ``PrivatePostgreSQL``: a throwaway PostgreSQL cluster; a restart keeps the
  data and drops every connection.
* ``restart_rabbitmq()`` / ``rabbitmq_stopped()``: the one exception, the
  machine's own RabbitMQ broker, restarted in place (a private broker would
  cost a whole Erlang node).

A binary that is not installed raises ``ServiceUnavailable``; a test turns
that into a skip (or a failure under CI).
"""

import contextlib
import glob
import os
import pwd
import re
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

LOOPBACK = '127.0.0.1'
JOIN_TIMEOUT = 5.0


class ServiceUnavailable(RuntimeError):
    """A binary or a user the service needs is not on this machine."""


def free_port(host=LOOPBACK):
    """A TCP port on ``host`` that nothing listens on right now.

    The port is free when this returns; another process could still take it
    before the caller binds it, which on a test machine is rare enough.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for_port(host, port, timeout, what=None):
    """Wait until ``host:port`` accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1.0).close()
            return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise TimeoutError('%s: %s:%d does not accept connections '
                                   'after %.1f s (%s)' % (
                                       what or 'service', host, port,
                                       timeout, exc)) from exc
        time.sleep(0.1)


def _log_tail(path, lines=20):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError as exc:
        return '(no log: %s)' % exc


def _close(sock):
    """Shut a socket down (which wakes a thread blocked on it), close it."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _Link:
    """One proxied connection: the client's socket and the target's."""

    def __init__(self, client, upstream):
        self.client = client
        self.upstream = upstream
        # Set by cut(): nothing is forwarded any more, and restore() or
        # stop() closes the link.
        self.severed = False
        self.open_directions = 2

    def close(self):
        _close(self.client)
        if self.upstream is not None:
            _close(self.upstream)


class TcpProxy:
    """A loopback TCP proxy to ``target_host:target_port`` that can be cut.

    It listens on ``127.0.0.1:<free port>``, or on ``listen``, (``.port``,
    ``.address``) and
    forwards every connection it accepts to the target, one thread per
    direction.

    ``cut()`` is a network partition, not a refused connection: from then on
    no byte is forwarded in either direction (bytes that arrive are dropped)
    but no socket is closed either, so a client sees silence and only its own
    timeouts tell it anything, as in a real partition.  A connection accepted
    during the cut is held open and never forwarded (the client's connect
    succeeds, its requests go unanswered).

    ``restore()`` ends the partition for NEW connections.  The connections
    that were open during the cut (forwarded or held) are closed at restore
    time: after a partition their streams have lost bytes and could not be
    resumed anyway, and a client sees a reset and reconnects.

    ``stop()`` closes the listener and every connection and joins the
    threads (each join is bounded).  All threads are daemons.
    """

    def __init__(self, target_host, target_port, connect_timeout=5.0,
                 listen=(LOOPBACK, 0)):
        """``listen``: the (address, port) to accept on; by default a free
        loopback port."""
        self.target = (target_host, target_port)
        self.connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._links = set()
        self._threads = []
        self._cut = False
        self._stopping = threading.Event()
        self._listener = socket.create_server(listen)
        self.address = self._listener.getsockname()[:2]
        self.port = self.address[1]
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._spawn(self._accept_loop, 'tcp-proxy-accept-%d' % self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return '<TcpProxy %s:%d -> %s:%d%s>' % (
            self.address + self.target + (' cut' if self._cut else '',))

    def _spawn(self, target, name, *args):
        thread = threading.Thread(target=target, args=args, name=name,
                                  daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return thread

    def _accept_loop(self):
        while not self._stopping.is_set():
            for key, _ in self._selector.select():
                if key.fileobj is not self._listener:
                    continue
                try:
                    client, _ = self._listener.accept()
                except OSError:
                    time.sleep(0.05)  # out of descriptors, say: no spin
                    continue
                self._spawn(self._open_link, 'tcp-proxy-link-%d' % self.port,
                            client)

    def _open_link(self, client):
        with self._lock:
            if self._stopping.is_set():
                _close(client)
                return
            if self._cut:
                # Accepted during the partition: held, never forwarded.
                link = _Link(client, None)
                link.severed = True
                self._links.add(link)
                return
        try:
            upstream = socket.create_connection(
                self.target, timeout=self.connect_timeout)
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        link = _Link(client, upstream)
        with self._lock:
            if self._stopping.is_set():
                link.close()
                return
            # A cut that came while connecting holds this link too.
            link.severed = self._cut
            self._links.add(link)
        self._spawn(self._pump, 'tcp-proxy-pump-%d' % self.port,
                    link, upstream, client)
        self._pump(link, client, upstream)

    def _pump(self, link, source, sink):
        while True:
            try:
                data = source.recv(65536)
                failed = False
            except OSError:
                data, failed = b'', True
            if link.severed:
                if not data:
                    # The peer went away during the partition: nothing to
                    # tell the other side; restore() or stop() closes it.
                    return
                continue  # dropped: a partition loses what it carries
            if not data:
                break
            try:
                sink.sendall(data)
            except OSError:
                failed = True
                break
        with self._lock:
            if link.severed:
                return
            link.open_directions -= 1
            if not failed:
                # A clean end of this direction: pass the half-close on;
                # the other direction goes on until its own end.
                try:
                    sink.shutdown(socket.SHUT_WR)
                except OSError:
                    failed = True
            done = failed or link.open_directions <= 0
            if done:
                self._links.discard(link)
        if done:
            link.close()

    def cut(self):
        """Partition: forward nothing more, in either direction."""
        with self._lock:
            self._cut = True
            for link in self._links:
                link.severed = True

    def restore(self):
        """End the partition: new connections are forwarded again.

        The connections open during the cut are closed now.
        """
        with self._lock:
            stale = [link for link in self._links if link.severed]
            self._links.difference_update(stale)
            self._cut = False
        for link in stale:
            link.close()

    def stop(self):
        """Close the listener and all connections; join the threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:
            self._wake_w.send(b'x')
        except OSError:
            pass
        with self._lock:
            links = list(self._links)
            self._links.clear()
            for link in links:
                link.severed = True
        for link in links:
            link.close()
        deadline = time.monotonic() + JOIN_TIMEOUT
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
        # Links opened by threads that were still running at the snapshot.
        with self._lock:
            links = list(self._links)
            self._links.clear()
        for link in links:
            link.close()
        self._selector.close()
        for sock in (self._listener, self._wake_r, self._wake_w):
            sock.close()


class PrivateRedis:
    """A redis-server of the caller's own on a free loopback port.

    Started with ``--save "" --appendonly no``: nothing is persisted, so
    ``restart()`` loses every key, as a real Redis without persistence does.
    Its working dir and log file are under ``workdir``.  The server is a
    child process of this one (not daemonized).  Starting takes 0.05-0.2 s
    here, a restart about 0.15 s.
    """

    def __init__(self, workdir, binary=None, start_timeout=15.0):
        self.binary = binary or shutil.which('redis-server') or (
            '/usr/bin/redis-server' if os.path.exists('/usr/bin/redis-server')
            else None)
        if not self.binary:
            raise ServiceUnavailable('redis-server is not installed')
        self.host = LOOPBACK
        self.port = free_port()
        self.dir = os.path.join(workdir, 'redis-%d' % self.port)
        os.makedirs(self.dir, exist_ok=True)
        self.logfile = os.path.join(self.dir, 'redis.log')
        self.start_timeout = start_timeout
        self.process = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def __repr__(self):
        return '<PrivateRedis %s:%d>' % (self.host, self.port)

    @property
    def address(self):
        return (self.host, self.port)

    def url(self, **params):
        """The tooz URL: ``redis://127.0.0.1:PORT?param=value&...``."""
        url = 'redis://%s:%d' % (self.host, self.port)
        if params:
            url += '?' + urllib.parse.urlencode(params)
        return url

    def client(self, **kwargs):
        """A redis.Redis on this server: 2 s timeouts, no retries.

        A fault test wants to see the failure, not redis-py's retries.
        """
        import redis
        from redis import backoff
        from redis import retry
        kwargs.setdefault('socket_timeout', 2.0)
        kwargs.setdefault('socket_connect_timeout', 2.0)
        kwargs.setdefault('retry', retry.Retry(backoff.NoBackoff(), 0))
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self):
        if self.running:
            return
        self.process = subprocess.Popen(
            [self.binary, '--port', str(self.port), '--bind', self.host,
             '--save', '', '--appendonly', 'no', '--daemonize', 'no',
             '--dir', self.dir, '--logfile', self.logfile],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self._wait_ping()

    def _wait_ping(self):
        import redis
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    'redis-server on port %d exited with %s:\n%s' % (
                        self.port, self.process.returncode,
                        _log_tail(self.logfile)))
            client = self.client(socket_timeout=1.0,
                                 socket_connect_timeout=1.0)
            try:
                if client.ping():
                    return
            except redis.exceptions.RedisError:
                pass
            finally:
                client.close()
            if time.monotonic() >= deadline:
                self.stop()
                raise TimeoutError(
                    'redis-server on port %d does not answer PING after '
                    '%.1f s:\n%s' % (self.port, self.start_timeout,
                                     _log_tail(self.logfile)))
            time.sleep(0.05)

    def stop(self, timeout=10.0):
        """Stop the server (SIGTERM; no save); kill it if it lingers."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def restart(self, down_for=0.0):
        """Stop, stay down ``down_for`` seconds, start on the same port.

        Every key is lost.
        """
        self.stop()
        if down_for:
            time.sleep(down_for)
        self.start()


def _postgresql_bin(name):
    """``name`` from the highest /usr/lib/postgresql/*/bin, else PATH."""
    def version(path):
        match = re.search(r'/postgresql/([\d.]+)/bin/', path)
        return tuple(int(p) for p in match.group(1).split('.') if p)
    found = sorted(glob.glob('/usr/lib/postgresql/*/bin/' + name),
                   key=version)
    if found:
        return found[-1]
    path = shutil.which(name)
    if not path:
        raise ServiceUnavailable('PostgreSQL %s is not installed' % name)
    return path


class PrivatePostgreSQL:
    """A throwaway PostgreSQL cluster on a free loopback port.

    ``initdb -A trust -U postgres`` (no password), fsync off, listening on
    127.0.0.1 only, its unix socket next to the data dir.  ``restart()``
    keeps the data and drops every connection, as a real database restart
    does; ``destroy()`` stops it and removes everything.

    PostgreSQL refuses to run as root.  When this process is root, initdb
    and pg_ctl run as the ``postgres`` user (``runuser -u postgres --``) and
    the cluster's directory is owned by postgres.  It is created under
    ``workdir`` when postgres can reach it, otherwise (a private temp dir of
    root's, say) under /tmp.

    Cost, measured on the test machine (PostgreSQL 15, a CPU-heavy job
    running beside it): initdb 0.9-1.2 s + first start 0.15 s, so about
    1.0-1.3 s in all; a restart about 0.25 s; destroy 0.15 s.
    """

    def __init__(self, workdir, user='postgres', start_timeout=60.0):
        self.initdb = _postgresql_bin('initdb')
        self.pg_ctl = _postgresql_bin('pg_ctl')
        self.user = user
        self.start_timeout = start_timeout
        self.host = LOOPBACK
        self.port = free_port()
        self._as_user = []
        owner = None
        if os.geteuid() == 0:
            runuser = shutil.which('runuser')
            if not runuser:
                raise ServiceUnavailable('runuser is not installed')
            try:
                owner = pwd.getpwnam(user)
            except KeyError:
                raise ServiceUnavailable('no %r user' % user) from None
            self._as_user = [runuser, '-u', user, '--']
        # Not tempfile's default: TMPDIR may name a private dir of root's
        # (Nova's test fixtures set one).
        parent = next((path for path in (workdir, '/tmp', '/var/tmp')
                       if self._reachable(path)), None)
        self.base = tempfile.mkdtemp(prefix='nova-ha-pg-', dir=parent)
        os.chmod(self.base, 0o755)
        if owner is not None:
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
        self.datadir = os.path.join(self.base, 'data')
        self.socketdir = self.base
        self.logfile = os.path.join(self.base, 'postgresql.log')
        self._initialized = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.destroy()

    def __repr__(self):
        return '<PrivatePostgreSQL %s:%d %s>' % (self.host, self.port,
                                                 self.datadir)

    def _reachable(self, path):
        if not self._as_user:
            return os.access(path, os.W_OK | os.X_OK)
        try:
            return subprocess.run(
                self._as_user + ['test', '-w', path, '-a', '-x', path],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, timeout=10).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _run(self, args, timeout):
        try:
            result = subprocess.run(
                self._as_user + args, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                timeout=timeout, cwd=self.base)
        except subprocess.TimeoutExpired as exc:
            raise TimeoutError('%s timed out after %s s:\n%s' % (
                os.path.basename(args[0]), timeout,
                _log_tail(self.logfile))) from exc
        return result

    def _check(self, args, timeout):
        result = self._run(args, timeout)
        if result.returncode != 0:
            raise RuntimeError('%s %s failed (%d):\n%s\n%s' % (
                os.path.basename(args[0]), ' '.join(args[1:]),
                result.returncode,
                result.stdout.decode(errors='replace')[-2000:],
                _log_tail(self.logfile)))
        return result

    def url(self, database='postgres'):
        """A SQLAlchemy URL for ``database`` on this cluster."""
        return 'postgresql+psycopg2://%s@%s:%d/%s' % (
            self.user, self.host, self.port, database)

    def connect(self, database='postgres', **kwargs):
        """A psycopg2 connection to ``database``."""
        import psycopg2
        kwargs.setdefault('connect_timeout', 5)
        return psycopg2.connect(host=self.host, port=self.port,
                                user=self.user, dbname=database, **kwargs)

    def create_database(self, name):
        """CREATE DATABASE ``name``; returns its SQLAlchemy URL."""
        from psycopg2 import sql
        connection = self.connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL('CREATE DATABASE {}').format(
                    sql.Identifier(name)))
        finally:
            connection.close()
        return self.url(name)

    def _init(self):
        self._check([self.initdb, '-D', self.datadir, '-A', 'trust',
                     '-U', self.user, '-E', 'UTF8', '--locale=C',
                     '--no-sync'], timeout=120)
        settings = {
            'port': str(self.port),
            'listen_addresses': "'%s'" % self.host,
            'unix_socket_directories': "'%s'" % self.socketdir,
            'fsync': 'off',
            'synchronous_commit': 'off',
            'full_page_writes': 'off',
            'max_connections': '50',
        }
        with open(os.path.join(self.datadir, 'postgresql.conf'), 'a') as f:
            f.write('\n# PrivatePostgreSQL\n')
            for key, value in settings.items():
                f.write('%s = %s\n' % (key, value))
        self._initialized = True

    @property
    def running(self):
        if not self._initialized:
            return False
        return self._run([self.pg_ctl, '-D', self.datadir, 'status'],
                         timeout=30).returncode == 0

    def start(self):
        """initdb on the first call; start; wait until it takes connections.
        """
        if not self._initialized:
            self._init()
        self._check([self.pg_ctl, '-D', self.datadir, '-l', self.logfile,
                     '-w', '-t', str(int(self.start_timeout)), 'start'],
                    timeout=self.start_timeout + 10)
        self._wait_ready()

    def _wait_ready(self):
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                self.connect(connect_timeout=2).close()
                return
            except ImportError:
                wait_for_port(self.host, self.port,
                              max(0.0, deadline - time.monotonic()),
                              'PostgreSQL')
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        'PostgreSQL on port %d takes no connection after '
                        '%.1f s: %s\n%s' % (self.port, self.start_timeout,
                                            exc, _log_tail(self.logfile))
                    ) from exc
            time.sleep(0.1)

    def stop(self, mode='fast'):
        """pg_ctl stop -m ``mode`` (smart, fast or immediate)."""
        if not self._initialized or not self.running:
            return
        self._check([self.pg_ctl, '-D', self.datadir, '-m', mode, '-w',
                     '-t', '60', 'stop'], timeout=70)

    def restart(self, down_for=0.0, mode='fast'):
        """Stop, stay down ``down_for`` seconds, start on the same port.

        The data is kept; every open connection is dropped.
        """
        self.stop(mode)
        if down_for:
            time.sleep(down_for)
        self.start()

    def destroy(self):
        """Stop the cluster (immediately) and remove its files."""
        try:
            self.stop('immediate')
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
            self._initialized = False


RABBITMQCTL_TIMEOUT = 60


def _rabbitmqctl(*args, timeout=RABBITMQCTL_TIMEOUT):
    binary = shutil.which('rabbitmqctl') or (
        '/usr/sbin/rabbitmqctl' if os.path.exists('/usr/sbin/rabbitmqctl')
        else None)
    if not binary:
        raise ServiceUnavailable('rabbitmqctl is not installed')
    try:
        result = subprocess.run(
            [binary] + list(args), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError('rabbitmqctl %s timed out after %s s' % (
            ' '.join(args), timeout)) from exc
    if result.returncode != 0:
        raise RuntimeError('rabbitmqctl %s failed (%d): %s' % (
            ' '.join(args), result.returncode,
            result.stdout.decode(errors='replace')[-2000:]))
    return result


def start_rabbitmq_app(timeout=60, host=LOOPBACK, port=5672):
    """``rabbitmqctl start_app``, then wait until the broker serves again.

    Waits until ``host:port`` accepts connections and ``rabbitmqctl
    await_startup`` succeeds, all within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout

    def left():
        return max(1.0, deadline - time.monotonic())
    _rabbitmqctl('start_app', timeout=left())
    wait_for_port(host, port, left(), 'RabbitMQ')
    _rabbitmqctl('await_startup', '--timeout', str(int(left())),
                 timeout=left() + 5)


@contextlib.contextmanager
def rabbitmq_stopped(timeout=60, host=LOOPBACK, port=5672):
    """The machine's RabbitMQ application stopped for the ``with`` body.

    ``rabbitmqctl stop_app`` on entry; ``start_app`` (and the wait until it
    serves again) on exit, whatever the body did, so the broker other tests
    share is never left down.  If the body raised, that exception is the
    one that propagates (a failure to start again is attached as a note).
    A stop_app that fails or times out half way is followed by a start_app
    too.
    """
    try:
        _rabbitmqctl('stop_app', timeout=timeout)
        yield
    except BaseException as exc:
        try:
            start_rabbitmq_app(timeout, host, port)
        except Exception as start_exc:
            exc.add_note('and RabbitMQ did not start again: %s' % start_exc)
        raise
    else:
        start_rabbitmq_app(timeout, host, port)


def restart_rabbitmq(down_for=0.0, timeout=60, host=LOOPBACK, port=5672):
    """Restart the machine's RabbitMQ broker application in place.

    ``rabbitmqctl stop_app``, ``down_for`` seconds down, ``rabbitmqctl
    start_app``, then wait until ``host:port`` (127.0.0.1:5672) accepts
    connections and ``rabbitmqctl await_startup`` succeeds; each rabbitmqctl
    call has a timeout.  Every client connection is dropped.

    The broker is the machine's own, shared with other tests: a private one
    would cost a whole Erlang node.  It is started again even when
    something fails on the way (start_app runs in a ``finally``), so a
    failing fault test does not leave the shared broker down.  Takes about
    4-5 s here plus ``down_for`` (each rabbitmqctl call starts an Erlang VM).
    """
    with rabbitmq_stopped(timeout, host, port):
        if down_for:
            time.sleep(down_for)
