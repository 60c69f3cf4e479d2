"""The lab cloud's control plane: real OpenStack services as processes.

keystone, placement, glance, neutron-server and nova-api run under uWSGI
(one process, two threads each) on the bridge address; nova-conductor and
nova-scheduler run as Nova ships them; the coordination Redis is the
lab's own.  Databases live on the machine's MariaDB (``<prefix>keystone``,
...), messages on the machine's RabbitMQ in the lab's vhost.

``prepare`` makes databases and the vhost from scratch and runs every
schema migration; ``start`` starts the processes and registers what a
cloud needs (service users, catalog, an image, flavors); ``wait_healthy``
asks each API; ``stop`` ends them all.  Every external command is bounded.
"""

import concurrent.futures
import grp
import os
import pwd
import shutil
import socket
import time
import urllib.parse
import urllib.request

from nova_ha_lab import configs
from nova_ha_lab import layout as lab
from nova_ha_lab import procs as lab_procs

# The services' databases, and nova_ha: the engines' history ([history]
# connection), whose schema the engines create themselves.
DATABASES = ('keystone', 'placement', 'glance', 'neutron', 'nova_api',
             'nova', 'nova_cell0', 'nova_ha')

# Lab process names, in start order.
APIS = ('keystone', 'placement', 'glance', 'neutron', 'nova-api')
DAEMONS = ('nova-conductor', 'nova-scheduler')
PROCESSES = ('redis',) + APIS + DAEMONS

IMAGE_NAME = 'lab-tiny'
IMAGE_DATA = b'nova-ha lab image\n'
# name: (vCPUs, RAM MiB, disk GiB)
FLAVORS = {
    'lab.tiny': (1, 64, 1),
    'lab.small': (2, 256, 2),
}

# The catalog: lab process -> (service name, type, URL suffix).
CATALOG = {
    'placement': ('placement', 'placement', ''),
    'glance': ('glance', 'image', ''),
    'neutron': ('neutron', 'network', ''),
    'nova-api': ('nova', 'compute', '/v2.1'),
}
SERVICE_ROLES = ('admin', 'service')

SETUP_TIMEOUT = 300      # one migration or set-up command
HTTP_TIMEOUT = 10        # one HTTP request of ours
START_TIMEOUT = 180      # start: APIs answering, registrations done


def _bin(name):
    return lab_procs.executable(name)


def _tail(path, lines=40):
    try:
        with open(path, 'rb') as log:
            log.seek(0, os.SEEK_END)
            log.seek(max(0, log.tell() - 16384))
            text = log.read().decode('utf-8', 'replace')
    except OSError:
        return '(no log at %s)' % path
    return '\n'.join(text.splitlines()[-lines:])


def _listening(port, address=lab.BRIDGE_ADDRESS):
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


# -- prepare --------------------------------------------------------------

def _mariadb():
    import pymysql
    url = urllib.parse.urlsplit(lab.MARIADB_URL.replace('mysql+pymysql',
                                                        'mysql', 1))
    return pymysql.connect(
        host=url.hostname, port=url.port or 3306, user=url.username,
        password=url.password or '', connect_timeout=10, read_timeout=120,
        write_timeout=120, autocommit=True)


def create_databases(layout):
    """Drop and create the lab's databases (utf8, as OpenStack's URLs say)."""
    conn = _mariadb()
    try:
        with conn.cursor() as cursor:
            for name in DATABASES:
                db = layout.db_prefix + name
                cursor.execute('DROP DATABASE IF EXISTS `%s`' % db)
                cursor.execute('CREATE DATABASE `%s` CHARACTER SET utf8 '
                               'COLLATE utf8_general_ci' % db)
    finally:
        conn.close()


def create_vhost(layout, run=lab_procs.run):
    """The lab's RabbitMQ vhost, empty (no queue of a previous lab)."""
    vhosts = run(['rabbitmqctl', '-q', 'list_vhosts', 'name'],
                 timeout=60).split()
    if lab.RABBITMQ_VHOST in vhosts:
        run(['rabbitmqctl', '-q', 'delete_vhost', lab.RABBITMQ_VHOST],
            timeout=60)
    run(['rabbitmqctl', '-q', 'add_vhost', lab.RABBITMQ_VHOST], timeout=60)
    run(['rabbitmqctl', '-q', 'set_permissions', '-p', lab.RABBITMQ_VHOST,
         lab.RABBITMQ_USER, '.*', '.*', '.*'], timeout=60)


def _keystone_setup(layout, run):
    p = configs.paths(layout)
    conf = ['--config-file', p['keystone']]
    user = pwd.getpwuid(os.getuid()).pw_name
    group = grp.getgrgid(os.getgid()).gr_name
    for repo in (p['fernet_keys'], p['credential_keys']):
        shutil.rmtree(repo, ignore_errors=True)
    manage = [_bin('keystone-manage')] + conf
    run(manage + ['db_sync'], timeout=SETUP_TIMEOUT)
    run(manage + ['fernet_setup', '--keystone-user', user,
                  '--keystone-group', group], timeout=SETUP_TIMEOUT)
    run(manage + ['credential_setup', '--keystone-user', user,
                  '--keystone-group', group], timeout=SETUP_TIMEOUT)
    url = layout.url('keystone')
    run(manage + [
        'bootstrap',
        '--bootstrap-password', lab.ADMIN_PASSWORD,
        '--bootstrap-username', lab.ADMIN_USER,
        '--bootstrap-project-name', lab.ADMIN_PROJECT,
        '--bootstrap-role-name', 'admin',
        '--bootstrap-service-name', 'keystone',
        '--bootstrap-region-id', lab.REGION,
        '--bootstrap-admin-url', url,
        '--bootstrap-internal-url', url,
        '--bootstrap-public-url', url], timeout=SETUP_TIMEOUT)


def _nova_setup(layout, run):
    manage = [_bin('nova-manage'), '--config-file',
              configs.paths(layout)['nova']]
    run(manage + ['api_db', 'sync'], timeout=SETUP_TIMEOUT)
    run(manage + ['cell_v2', 'map_cell0', '--database_connection',
                  layout.database_url('nova_cell0')], timeout=SETUP_TIMEOUT)
    run(manage + ['cell_v2', 'create_cell', '--name', 'cell1'],
        timeout=SETUP_TIMEOUT)
    # Migrates cell0 and cell1.
    run(manage + ['db', 'sync'], timeout=SETUP_TIMEOUT)


def _setup_steps(layout, run):
    p = configs.paths(layout)
    # The longest first: the steps share two cores.
    return {
        'nova': lambda: _nova_setup(layout, run),
        'keystone': lambda: _keystone_setup(layout, run),
        'neutron': lambda: run(
            [_bin('neutron-db-manage'), '--config-file', p['neutron'],
             '--config-file', p['ml2'], 'upgrade', 'heads'],
            timeout=SETUP_TIMEOUT),
        'glance': lambda: run(
            [_bin('glance-manage'), '--config-file', p['glance'],
             'db_sync'], timeout=SETUP_TIMEOUT),
        'placement': lambda: run(
            [_bin('placement-manage'), '--config-file', p['placement'],
             'db', 'sync'], timeout=SETUP_TIMEOUT),
        'rabbitmq': lambda: create_vhost(layout, run),
    }


def prepare(layout, procs=None, run=lab_procs.run, parallel=3):
    """From scratch: config files, databases, vhost, every migration and
    keystone's bootstrap, ``parallel`` steps at once (they are CPU-bound:
    more than 3 gains nothing on two cores).  Refuses while a lab's
    keystone is listening.  Returns {step: seconds}.  ``procs`` is
    unused: nothing stays running."""
    if _listening(lab.PORTS['keystone']):
        raise RuntimeError(
            'something listens on %s:%d: a lab is running; stop it first'
            % (lab.BRIDGE_ADDRESS, lab.PORTS['keystone']))
    started = time.monotonic()
    for service in ('glance', 'neutron', 'nova'):
        shutil.rmtree(configs.data_dir(layout, service), ignore_errors=True)
    configs.write_all(layout)
    create_databases(layout)
    timings = {'databases': time.monotonic() - started}

    def timed(name, step):
        begin = time.monotonic()
        step()
        return name, time.monotonic() - begin

    steps = _setup_steps(layout, run)
    errors = []
    with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
        futures = [pool.submit(timed, name, step)
                   for name, step in steps.items()]
        for future in concurrent.futures.as_completed(futures):
            try:
                name, seconds = future.result()
                timings[name] = seconds
            except Exception as exc:  # report every failed step
                errors.append(exc)
    if errors:
        raise RuntimeError('lab prepare failed:\n%s' % '\n'.join(
            str(e) for e in errors))
    timings['total'] = time.monotonic() - started
    return timings


# -- start ----------------------------------------------------------------

def _argv(layout, name):
    p = configs.paths(layout)
    if name == 'redis':
        return ['redis-server', '--bind', lab.COORDINATION_ADDRESS,
                '--port', str(lab.REDIS_PORT), '--save', '',
                # Not loopback and no password: without this Redis answers
                # every client with a DENIED error.
                '--protected-mode', 'no',
                '--appendonly', 'no', '--daemonize', 'no',
                '--dir', layout.run]
    if name in APIS:
        return configs.uwsgi_argv(layout, name)
    if name == 'nova-conductor':
        return [_bin('nova-conductor'), '--config-file', p['nova']]
    if name == 'nova-scheduler':
        return [_bin('nova-scheduler'), '--config-file',
                p['nova_scheduler']]
    raise KeyError(name)


def _http(url, timeout=HTTP_TIMEOUT):
    """GET ``url`` without credentials (a root or version document)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status, response.read()


def _wait(what, check, deadline, procs=None, name=None, interval=0.25):
    """Call ``check`` until it returns without raising; fails at the
    deadline or when the process ``name`` has exited, with its log."""
    last = None
    while True:
        try:
            return check()
        except Exception as exc:  # anything: not ready yet
            last = exc
        dead = procs is not None and name and not procs.pid(name)
        if dead or time.monotonic() > deadline:
            log = procs.log_file(name) if procs and name else None
            raise RuntimeError('lab control plane: %s %s: %s%s' % (
                what, 'exited' if dead else 'not ready in time',
                last, '\n--- %s ---\n%s' % (log, _tail(log)) if log else ''))
        time.sleep(interval)


def connection(layout, timeout=30):
    """An openstacksdk Connection as the lab's admin (ignores OS_*
    variables and clouds.yaml files of the environment)."""
    import openstack.config
    import openstack.connection
    region = openstack.config.get_cloud_region(
        load_yaml_config=False, load_envvars=False,
        api_timeout=timeout,
        **configs.clouds(layout)['clouds'][configs.CLOUD_NAME])
    return openstack.connection.Connection(config=region)


def _find(items, **attrs):
    for item in items:
        if all(getattr(item, k) == v for k, v in attrs.items()):
            return item
    return None


def register(layout, conn):
    """Service project, users and roles, and the catalog; idempotent.
    Lists once and creates what is missing (each request costs)."""
    identity = conn.identity
    domain = identity.find_domain('default', ignore_missing=False)
    project = _find(identity.projects(domain_id=domain.id),
                    name=lab.SERVICE_PROJECT)
    if project is None:
        project = identity.create_project(
            name=lab.SERVICE_PROJECT, domain_id=domain.id,
            description='the lab\'s service users')
    roles = {r.name: r for r in identity.roles()}
    for role_name in SERVICE_ROLES:
        if role_name not in roles:
            roles[role_name] = identity.create_role(name=role_name)
    users = {u.name: u for u in identity.users(domain_id=domain.id)}
    granted = {(a.user['id'], a.role['id']) for a in
               identity.role_assignments(scope_project_id=project.id)
               if a.user}
    for user_name in configs.SERVICE_USERS:
        user = users.get(user_name)
        if user is None:
            user = identity.create_user(
                name=user_name, domain_id=domain.id,
                password=lab.SERVICE_PASSWORD,
                default_project_id=project.id)
        for role_name in SERVICE_ROLES:
            role = roles[role_name]
            if (user.id, role.id) not in granted:
                identity.assign_project_role_to_user(project, user, role)
    services = list(identity.services())
    endpoints = list(identity.endpoints(interface='public'))
    for name, (service_name, service_type, suffix) in CATALOG.items():
        service = _find(services, type=service_type)
        if service is None:
            service = identity.create_service(
                name=service_name, type=service_type, enabled=True)
        url = layout.url(configs.API_PORTS[name], suffix)
        found = _find(endpoints, service_id=service.id)
        if found is None:
            identity.create_endpoint(
                service_id=service.id, interface='public', url=url,
                region_id=lab.REGION)
        elif found.url != url:
            identity.update_endpoint(found, url=url)


def ensure_image(conn):
    image = conn.image.find_image(IMAGE_NAME)
    if image is None or image.status != 'active':
        if image is not None:
            conn.image.delete_image(image)
        image = conn.image.create_image(
            name=IMAGE_NAME, data=IMAGE_DATA, disk_format='raw',
            container_format='bare', visibility='public',
            allow_duplicates=True)
    return image


def ensure_flavors(conn):
    existing = {f.name: f for f in conn.compute.flavors(is_public=None)}
    for name, (vcpus, ram, disk) in FLAVORS.items():
        if name not in existing:
            conn.compute.create_flavor(name=name, vcpus=vcpus, ram=ram,
                                       disk=disk, is_public=True)


def start(layout, procs=None, timeout=START_TIMEOUT):
    """Start the control plane and register what the cloud needs; returns
    {step: seconds}.  Processes already running are left as they are."""
    procs = procs or lab_procs.Processes(layout)
    began = time.monotonic()
    deadline = began + timeout
    configs.write_all(layout)
    timings = {}
    procs.start('redis', _argv(layout, 'redis'))
    for name in APIS:
        procs.start(name, _argv(layout, name),
                    env=configs.uwsgi_env(layout, name))
    _wait('redis', _redis_ping, deadline, procs, 'redis')
    _wait('keystone', lambda: _http(layout.url('keystone', '/v3')),
          deadline, procs, 'keystone')
    timings['keystone'] = time.monotonic() - began
    conn = connection(layout)
    _wait('keystone registrations', lambda: register(layout, conn),
          deadline, procs, 'keystone')
    timings['register'] = time.monotonic() - began
    # After the registrations: at start they authenticate to placement
    # as the nova user (and only log, or fail, when they cannot).
    for name in DAEMONS:
        procs.start(name, _argv(layout, name))
    # A new token: the first one's catalog lacks the new endpoints.
    conn = connection(layout)
    _wait('glance', lambda: ensure_image(conn), deadline, procs, 'glance')
    timings['image'] = time.monotonic() - began
    _wait('nova-api', lambda: ensure_flavors(conn), deadline, procs,
          'nova-api')
    timings['flavors'] = time.monotonic() - began
    return timings


def _redis_ping():
    with socket.create_connection((lab.COORDINATION_ADDRESS, lab.REDIS_PORT),
                                  timeout=2) as sock:
        sock.sendall(b'PING\r\n')
        reply = sock.recv(64)
    if not reply.startswith(b'+PONG'):
        raise RuntimeError('redis answered %r' % reply)


# -- health ---------------------------------------------------------------

def _daemons_up(conn):
    services = {s.binary: s for s in conn.compute.services()}
    missing = [b for b in DAEMONS
               if b not in services or services[b].state != 'up']
    if missing:
        raise RuntimeError('not up in nova: %s' % ', '.join(missing))
    return services


def wait_healthy(layout, timeout=120, procs=None):
    """Wait until every API answers: keystone issues a token, placement
    serves its root, glance lists images, neutron networks and ports,
    nova-api lists nova-conductor and nova-scheduler up.  Raises
    RuntimeError naming the failing service, with its log's tail."""
    procs = procs or lab_procs.Processes(layout)
    began = time.monotonic()
    deadline = began + timeout
    for name in PROCESSES:
        if not procs.pid(name):
            raise RuntimeError('lab control plane: %s is not running\n'
                               '--- %s ---\n%s' % (
                                   name, procs.log_file(name),
                                   _tail(procs.log_file(name))))
    conn = connection(layout, timeout=HTTP_TIMEOUT)
    _wait('redis', _redis_ping, deadline, procs, 'redis')
    _wait('keystone (token)', lambda: conn.session.get_token(), deadline,
          procs, 'keystone')
    _wait('placement (root)', lambda: _http(layout.url('placement')),
          deadline, procs, 'placement')
    _wait('glance (images)', lambda: list(conn.image.images()), deadline,
          procs, 'glance')
    _wait('neutron (networks, ports)', lambda: (
        list(conn.network.networks()), list(conn.network.ports())),
        deadline, procs, 'neutron')
    _wait('nova-api (services)', lambda: _daemons_up(conn), deadline,
          procs, 'nova-api', interval=1.0)
    return time.monotonic() - began


def discover_hosts(layout, timeout=120, run=lab_procs.run):
    """Map new compute hosts to cell1 now (the scheduler also does it
    every few seconds); nova-manage's output."""
    return run([_bin('nova-manage'), '--config-file',
                configs.paths(layout)['nova'], 'cell_v2', 'discover_hosts',
                '--verbose'], timeout=timeout)


def stop(layout, procs=None, timeout=15.0):
    """Stop every control-plane process: the services at once, then Redis
    (which they use to the end); the names of those still alive
    afterwards (none, normally)."""
    procs = procs or lab_procs.Processes(layout)
    services = [n for n in reversed(PROCESSES) if n != 'redis']
    with concurrent.futures.ThreadPoolExecutor(len(services)) as pool:
        list(pool.map(lambda n: procs.stop(n, timeout=timeout), services))
    procs.stop('redis', timeout=timeout)
    return [n for n in PROCESSES if procs.pid(n)]


def running(layout, procs=None):
    procs = procs or lab_procs.Processes(layout)
    return {name: procs.pid(name) for name in PROCESSES}
