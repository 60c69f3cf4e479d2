"""The lab cloud's configuration files, computed from its Layout.

Each service gets the files a deployment would give it, under
``<lab>/etc/<service>/``: keystone, placement, glance (file store),
neutron (ML2 without mechanism drivers: it answers the API, it wires
nothing), the control plane's nova.conf (nova-api, nova-conductor,
nova-manage) and nova-scheduler.conf, one nova.conf per compute host, and
a uWSGI ini per API.

nova-ha's own settings are never spelled here: they are read from the
fragments an operator is told to add (etc/nova-ha/nova-services.conf.sample
in every Nova service, nova-scheduler.conf.sample in the schedulers), so
the README, the fragments and the lab say the same.  Only the coordination
URL is the lab's.

``Ini`` (nova_ha.conf.fragments) keeps the repeated keys of Nova's
multi-valued options.  The ``*_ini`` functions are pure; the ``write_*``
functions and ``compute_nova_conf`` write files.
"""

import os
import shutil
import sys

import yaml

from nova_ha.conf.fragments import FRAGMENT_SCHEDULER
from nova_ha.conf.fragments import FRAGMENT_SERVICES
from nova_ha.conf.fragments import Ini
from nova_ha.conf.fragments import write_file
from nova_ha.conf.fragments import parse_ini  # noqa: F401 (tests use it)
from nova_ha.conf.fragments import read_fragment

from nova_ha_lab import layout as lab


# nova_ha_lab.virt.LabDriver, as nova_ha_lab.compute makes it known to Nova.
COMPUTE_DRIVER = 'nova_ha_lab.LabDriver'
# Nova's [DEFAULT] host of the control services (conductor, scheduler).
CONTROL_HOST = 'lab-control'
CLOUD_NAME = 'lab'
DEFAULT_DOMAIN = 'Default'

# Keystone users of the services, in the service project.
SERVICE_USERS = ('placement', 'glance', 'neutron', 'nova')

# The API services under uWSGI: WSGI module and the environment variable
# that names the directory of its configuration files.
WSGI_APPS = {
    'keystone': ('keystone.wsgi.api:application', 'OS_KEYSTONE_CONFIG_DIR'),
    'placement': ('placement.wsgi.api:application',
                  'OS_PLACEMENT_CONFIG_DIR'),
    'glance': ('glance.wsgi.api:application', 'OS_GLANCE_CONFIG_DIR'),
    'neutron': ('neutron.wsgi.api:application', 'OS_NEUTRON_CONFIG_DIR'),
    'nova-api': ('nova.wsgi.osapi_compute:application',
                 'OS_NOVA_CONFIG_DIR'),
}
# Lab process name -> key of layout.PORTS.
API_PORTS = {
    'keystone': 'keystone',
    'placement': 'placement',
    'glance': 'glance',
    'neutron': 'neutron',
    'nova-api': 'nova',
}
# Per-app uWSGI settings beyond the common ones.
_UWSGI_EXTRA = {
    # Image uploads may come chunked.
    'glance': (('http-chunked-input', True), ('http-auto-chunked', True),
               ('http-raw-body', True), ('chunked-input-limit', 4096000)),
}


def nova_ha_settings(layout, scheduler=False):
    """What nova-ha adds to a Nova service's nova.conf: the services
    fragment (plus the scheduler's) with the lab's coordination URL."""
    ini = read_fragment(FRAGMENT_SERVICES)
    if scheduler:
        ini.merge(read_fragment(FRAGMENT_SCHEDULER))
    ini.set('ha_servicegroup', 'backend_url', layout.redis_url)
    return ini


# -- paths ----------------------------------------------------------------

def conf_dir(layout, service):
    return os.path.join(layout.etc, service)


def paths(layout):
    """Every control-plane file ``write_all`` writes, by role."""
    etc = layout.etc
    return {
        'keystone': os.path.join(etc, 'keystone', 'keystone.conf'),
        'fernet_keys': os.path.join(etc, 'keystone', 'fernet-keys'),
        'credential_keys': os.path.join(etc, 'keystone', 'credential-keys'),
        'placement': os.path.join(etc, 'placement', 'placement.conf'),
        'glance': os.path.join(etc, 'glance', 'glance-api.conf'),
        'glance_paste': os.path.join(etc, 'glance', 'glance-api-paste.ini'),
        'neutron': os.path.join(etc, 'neutron', 'neutron.conf'),
        'ml2': os.path.join(etc, 'neutron', 'plugins', 'ml2',
                            'ml2_conf.ini'),
        # Found beside neutron.conf (api_paste_config is deprecated).
        'neutron_paste': os.path.join(etc, 'neutron', 'api-paste.ini'),
        'nova': os.path.join(etc, 'nova', 'nova.conf'),
        'nova_scheduler': os.path.join(etc, 'nova', 'nova-scheduler.conf'),
        'nova_paste': os.path.join(etc, 'nova', 'api-paste.ini'),
    }


def uwsgi_ini_path(layout, name):
    return os.path.join(layout.etc, 'uwsgi', name + '.ini')


def compute_conf_path(layout, host_name):
    return os.path.join(layout.etc, 'nova-compute', host_name + '.conf')


def data_dir(layout, service):
    """State of a control service (images, locks) under <lab>/data."""
    return layout.path('data', service)


def shipped_file(project, name):
    """A file a wheel installs under <prefix>/etc/<project> (the paste
    pipelines of nova, glance and neutron)."""
    for prefix in (sys.prefix, '/usr/local', '/usr', '/'):
        path = os.path.join(prefix, 'etc', project, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError('%s/%s is not installed under %s/etc' % (
        project, name, sys.prefix))


# -- shared sections ------------------------------------------------------

def _common(ini, debug):
    ini.update('DEFAULT', {'debug': debug})
    return ini


def _authtoken(layout, user):
    """keystonemiddleware of an API (validates users' tokens)."""
    return {
        'www_authenticate_uri': layout.url('keystone'),
        'auth_url': layout.url('keystone'),
        'auth_type': 'password',
        'username': user,
        'password': lab.SERVICE_PASSWORD,
        'project_name': lab.SERVICE_PROJECT,
        'user_domain_name': DEFAULT_DOMAIN,
        'project_domain_name': DEFAULT_DOMAIN,
        'region_name': lab.REGION,
        'service_token_roles_required': True,
    }


def _client(layout, user='nova'):
    """A keystoneauth client section (Nova's [placement], [neutron] ...)."""
    return {
        'auth_type': 'password',
        'auth_url': layout.auth_url,
        'username': user,
        'password': lab.SERVICE_PASSWORD,
        'project_name': lab.SERVICE_PROJECT,
        'user_domain_name': DEFAULT_DOMAIN,
        'project_domain_name': DEFAULT_DOMAIN,
        'region_name': lab.REGION,
    }


# -- keystone, placement, glance, neutron ---------------------------------

def keystone_ini(layout, debug=False):
    p = paths(layout)
    ini = _common(Ini(), debug)
    ini.update('database', {'connection': layout.database_url('keystone')})
    ini.update('token', {'provider': 'fernet'})
    ini.update('fernet_tokens', {'key_repository': p['fernet_keys']})
    ini.update('fernet_receipts', {'key_repository': p['fernet_keys']})
    ini.update('credential', {'key_repository': p['credential_keys']})
    # bcrypt's least cost: every password check of the lab's services and
    # scripts costs about 1 ms instead of 0.25 s.
    ini.update('identity', {'password_hash_rounds': 4})
    # Keystone rebuilds a token's user, roles and catalog from the
    # database on every validation without a cache: 0.3 s a request here,
    # 10 ms with one.  In-process is consistent: one process serves all.
    ini.update('cache', {'enabled': True,
                         'backend': 'dogpile.cache.memory'})
    return ini


def placement_ini(layout, debug=False):
    ini = _common(Ini(), debug)
    ini.update('placement_database', {
        'connection': layout.database_url('placement')})
    ini.update('api', {'auth_strategy': 'keystone'})
    ini.update('keystone_authtoken', _authtoken(layout, 'placement'))
    return ini


def glance_ini(layout, debug=False):
    images = data_dir(layout, 'glance')
    ini = _common(Ini(), debug)
    ini.update('DEFAULT', {
        'enabled_backends': 'lab:file',
        # Only the classic upload (PUT .../file): no staging, no workers.
        'enabled_import_methods': '[]',
    })
    ini.update('database', {'connection': layout.database_url('glance')})
    ini.update('glance_store', {'default_backend': 'lab'})
    ini.update('lab', {
        'filesystem_store_datadir': os.path.join(images, 'images')})
    ini.update('os_glance_staging_store', {
        'filesystem_store_datadir': os.path.join(images, 'staging')})
    ini.update('os_glance_tasks_store', {
        'filesystem_store_datadir': os.path.join(images, 'tasks')})
    ini.update('paste_deploy', {
        'flavor': 'keystone',
        'config_file': paths(layout)['glance_paste']})
    ini.update('keystone_authtoken', _authtoken(layout, 'glance'))
    ini.update('oslo_concurrency', {
        'lock_path': os.path.join(images, 'locks')})
    return ini


def neutron_ini(layout, debug=False):
    state = data_dir(layout, 'neutron')
    ini = _common(Ini(), debug)
    ini.update('DEFAULT', {
        'core_plugin': 'ml2',
        'service_plugins': '',
        'auth_strategy': 'keystone',
        'state_path': state,
        'transport_url': layout.transport_url(local=True),
        # Nothing wires ports, so nothing to tell Nova or DHCP agents.
        'notify_nova_on_port_status_changes': False,
        'notify_nova_on_port_data_changes': False,
        'dhcp_agent_notification': False,
    })
    ini.update('database', {'connection': layout.database_url('neutron')})
    ini.update('keystone_authtoken', _authtoken(layout, 'neutron'))
    ini.update('oslo_concurrency', {
        'lock_path': os.path.join(state, 'locks')})
    return ini


def ml2_ini(layout):
    ini = Ini()
    ini.update('ml2', {
        'type_drivers': 'flat',
        'project_network_types': '',
        'mechanism_drivers': '',
        'extension_drivers': '',
    })
    ini.update('ml2_type_flat', {'flat_networks': '*'})
    return ini


# -- Nova -----------------------------------------------------------------

def _nova_common(layout, debug):
    """What every Nova service of the lab shares, nova-ha included."""
    ini = _common(Ini(), debug)
    ini.update('placement', _client(layout))
    ini.update('neutron', _client(layout))
    ini.update('glance', {'region_name': lab.REGION})
    return ini


def nova_control_ini(layout, scheduler=False, debug=False):
    """nova.conf of nova-api, nova-conductor and nova-manage; with
    ``scheduler`` nova-scheduler's (the same plus its fragment)."""
    state = data_dir(layout, 'nova')
    ini = _nova_common(layout, debug)
    ini.update('DEFAULT', {
        'host': CONTROL_HOST,
        'my_ip': lab.BRIDGE_ADDRESS,
        'state_path': state,
        'transport_url': layout.transport_url(local=True),
    })
    ini.update('api_database', {
        'connection': layout.database_url('nova_api')})
    ini.update('database', {'connection': layout.database_url('nova')})
    ini.update('keystone_authtoken', _authtoken(layout, 'nova'))
    ini.update('oslo_concurrency', {
        'lock_path': os.path.join(state, 'locks')})
    # One worker each (memory); a new host is mapped within 2 s.
    ini.update('conductor', {'workers': 1})
    ini.update('scheduler', {'workers': 1,
                             'discover_hosts_in_cells_interval': 2})
    # The lab's VMs are many and tiny: quotas never refuse them.
    ini.update('quota', {'instances': -1, 'cores': -1, 'ram': -1})
    if layout.with_ha:
        ini.merge(nova_ha_settings(layout, scheduler=scheduler))
    return ini


def compute_nova_ini(layout, host, debug=False):
    """nova.conf of the nova-compute of ``host`` (a layout.Host)."""
    state = layout.host_dir(host.name)
    ini = _nova_common(layout, debug)
    ini.update('DEFAULT', {
        'host': host.name,
        'my_ip': host.address,
        'state_path': state,
        'instances_path': os.path.join(state, 'instances'),
        'compute_driver': COMPUTE_DRIVER,
        # Through the relay on the bridge: the host's only way out.
        'transport_url': layout.transport_url(),
        # No network to heal: the lab's VMs boot with networks "none".
        'heal_instance_info_cache_interval': -1,
    })
    ini.update('oslo_concurrency', {
        'lock_path': os.path.join(state, 'locks')})
    ini.update('vnc', {'enabled': False})
    if layout.with_ha:
        ini.merge(nova_ha_settings(layout))
    return ini


def compute_nova_conf(layout, host, debug=False):
    """Write the nova.conf of ``host``'s nova-compute; its path."""
    return compute_nova_ini(layout, host, debug).write(
        compute_conf_path(layout, host.name))


# -- uWSGI ----------------------------------------------------------------

def uwsgi_ini(layout, name):
    """uWSGI settings of the API ``name`` (a key of WSGI_APPS): one
    process with two threads, HTTP on the bridge address."""
    module = WSGI_APPS[name][0]
    ini = Ini()
    section = 'uwsgi'
    for key, value in (
            ('module', module),
            ('http-socket', '%s:%d' % (lab.BRIDGE_ADDRESS,
                                       lab.PORTS[API_PORTS[name]])),
            ('master', True),
            ('processes', 1),
            ('threads', 2),
            ('enable-threads', True),
            # Load the app in the worker, after the fork: the services
            # start threads and connections when they load.
            ('lazy-apps', True),
            ('need-app', True),
            ('die-on-term', True),
            # A worker that does not end on SIGTERM is killed after 5 s,
            # not uWSGI's 60 (nova-api's once hung there at shutdown).
            ('reload-mercy', 5),
            ('worker-reload-mercy', 5),
            # Keystone tokens and service catalogs make large headers.
            ('buffer-size', 65535),
            ('post-buffering', 65536),
            ('socket-timeout', 60),
            # uWSGI's http-socket closes the connection after each
            # response; without this header clients reuse it and get
            # "connection reset by peer" on their next request.
            ('add-header', 'Connection: close'),
            ('disable-logging', True),
            ('log-4xx', True),
            ('log-5xx', True),
            ('single-interpreter', True),
            ('pyargv', '')):
        ini.add(section, key, value)
    for key, value in _UWSGI_EXTRA.get(name, ()):
        ini.add(section, key, value)
    return ini


def uwsgi_env(layout, name):
    """The environment of the API ``name``: where its config files are.
    It must be the process's own environment: pyuwsgi starts Python before
    it reads the ini, so uWSGI's ``env`` option never reaches os.environ."""
    env_var = WSGI_APPS[name][1]
    return {env_var: conf_dir(layout, 'nova' if name == 'nova-api' else
                              name)}


def uwsgi_argv(layout, name):
    """The command line of the API ``name`` under uWSGI."""
    return [os.path.join(os.path.dirname(sys.executable), 'uwsgi'),
            '--ini', uwsgi_ini_path(layout, name)]


# -- all of it ------------------------------------------------------------

def write_all(layout, debug=False):
    """Write every control-plane file, each host's nova.conf and
    clouds.yaml; the control plane's paths (see ``paths``)."""
    p = paths(layout)
    keystone_ini(layout, debug).write(p['keystone'])
    placement_ini(layout, debug).write(p['placement'])
    glance_ini(layout, debug).write(p['glance'])
    neutron_ini(layout, debug).write(p['neutron'])
    ml2_ini(layout).write(p['ml2'])
    nova_control_ini(layout, debug=debug).write(p['nova'])
    nova_control_ini(layout, scheduler=True, debug=debug).write(
        p['nova_scheduler'])
    for role, project, name in (
            ('glance_paste', 'glance', 'glance-api-paste.ini'),
            ('neutron_paste', 'neutron', 'api-paste.ini'),
            ('nova_paste', 'nova', 'api-paste.ini')):
        shutil.copyfile(shipped_file(project, name), p[role])
    for name in WSGI_APPS:
        uwsgi_ini(layout, name).write(uwsgi_ini_path(layout, name))
    for service in ('glance', 'neutron', 'nova'):
        os.makedirs(data_dir(layout, service), exist_ok=True)
    for host in layout.hosts:
        compute_nova_conf(layout, host, debug)
    write_clouds_yaml(layout)
    return p


def clouds(layout):
    """The clouds.yaml content: cloud ``lab``, the admin of the lab."""
    return {'clouds': {CLOUD_NAME: {
        'auth': {
            'auth_url': layout.auth_url,
            'username': lab.ADMIN_USER,
            'password': lab.ADMIN_PASSWORD,
            'project_name': lab.ADMIN_PROJECT,
            'user_domain_name': DEFAULT_DOMAIN,
            'project_domain_name': DEFAULT_DOMAIN,
        },
        'identity_api_version': 3,
        'region_name': lab.REGION,
        'interface': 'public',
    }}}


def write_clouds_yaml(layout):
    write_file(layout.clouds_yaml,
           yaml.safe_dump(clouds(layout), default_flow_style=False),
           mode=0o600)
    return layout.clouds_yaml
