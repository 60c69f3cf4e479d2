"""Where everything of the lab cloud lives: names, addresses, ports, files.

The lab is one machine playing a small cloud.  The control plane runs in
the root network namespace and listens on the lab bridge's address, so
both the machine and the hosts reach it.  Each compute host is a network
namespace with one veth on the bridge; "powering it off" kills every
process in that namespace.  Each host's BMC runs in the root namespace
(it survives its host, as a real BMC on standby power does) on loopback.

Everything here is data computed from a lab directory; nothing starts.
"""

import dataclasses
import os

BRIDGE = 'brlab0'
SUBNET_PREFIX = '172.31.250'
BRIDGE_ADDRESS = SUBNET_PREFIX + '.1'
PREFIX_LENGTH = 24
# The coordination backend has an address of its own on the management
# bridge, so that a host's link to it alone can be cut (a route).
COORDINATION_ADDRESS = SUBNET_PREFIX + '.2'
# The second network (the storage network of a real cloud): the segment
# peers probe each other over it; nothing else uses it.
STORAGE_BRIDGE = 'brlab1'
STORAGE_PREFIX = '172.31.251'
# A UDP port for the peer probes (the same on every host).
PEER_PORT = 7410

# The machine's own services, reached from the hosts
# through relays on the bridge (they listen on 127.0.0.1 only).
MARIADB_URL = 'mysql+pymysql://root@127.0.0.1:3306'
RABBITMQ_PORT = 5672
RABBITMQ_VHOST = 'nova-ha-lab'
RABBITMQ_USER = 'guest'
RABBITMQ_PASSWORD = 'guest'

# The lab's own Redis for coordination (leases, heartbeats): private, so
# that a scenario may restart it and the machine's Redis stays untouched.
REDIS_PORT = 6391

# Control-plane API ports, on BRIDGE_ADDRESS (the usual ports).
PORTS = {
    'keystone': 5000,
    'placement': 8778,
    'glance': 9292,
    'neutron': 9696,
    'nova': 8774,
}

ADMIN_USER = 'admin'
ADMIN_PASSWORD = 'lab-admin-Pa55'
ADMIN_PROJECT = 'admin'
SERVICE_PROJECT = 'service'
SERVICE_PASSWORD = 'lab-service-Pa55'
REGION = 'RegionOne'

BMC_USER = 'admin'
BMC_PASSWORD = 'lab-bmc-Pa55'
BMC_BASE_PORT = 6230


@dataclasses.dataclass(frozen=True)
class Host:
    """One compute host of the lab."""

    name: str            # Nova's compute host name, also the netns suffix
    index: int           # 1-based; gives the address and the BMC port
    segment: str = ''    # failover segment aggregate ('' = none)
    reserved: bool = False

    @property
    def netns(self):
        return 'lab-' + self.name

    @property
    def veth(self):
        # Interface names are at most 15 characters.
        return ('vl-' + self.name)[:15]

    @property
    def address(self):
        return '%s.%d' % (SUBNET_PREFIX, 10 + self.index)

    @property
    def storage_veth(self):
        return ('vs-' + self.name)[:15]

    @property
    def storage_address(self):
        return '%s.%d' % (STORAGE_PREFIX, 10 + self.index)

    @property
    def bmc_port(self):
        return BMC_BASE_PORT + self.index


# Two failover segments with a reserved host each, one host in none.
# Segment A has four hosts so that a "rack" (half of it) can fail and
# still leave room for its VMs.
DEFAULT_HOSTS = (
    Host('a1', 1, 'seg-a'),
    Host('a2', 2, 'seg-a'),
    Host('a3', 3, 'seg-a'),
    Host('a-spare', 4, 'seg-a', reserved=True),
    Host('b1', 5, 'seg-b'),
    Host('b-spare', 6, 'seg-b', reserved=True),
    Host('c1', 7),
)

ENGINE_REPLICAS = ('engine-1', 'engine-2')


@dataclasses.dataclass(frozen=True)
class Layout:
    """Paths and addresses of one lab, rooted at ``base``."""

    base: str
    hosts: tuple = DEFAULT_HOSTS
    db_prefix: str = 'lab_'

    # -- files --------------------------------------------------------
    def path(self, *parts):
        return os.path.join(self.base, *parts)

    @property
    def etc(self):
        return self.path('etc')

    @property
    def logs(self):
        return self.path('log')

    @property
    def run(self):
        return self.path('run')

    def host_dir(self, host_name):
        return self.path('hosts', host_name)

    def ledger(self, host_name):
        """The file the host's virt driver keeps of the guests it runs."""
        return os.path.join(self.host_dir(host_name), 'ledger.json')

    def power_file(self, host_name):
        """The host's power state as its BMC reports it: "on" or "off"."""
        return os.path.join(self.host_dir(host_name), 'power')

    def host(self, name):
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError('no lab host named %r (hosts: %s)' % (
            name, ', '.join(h.name for h in self.hosts)))

    def segments(self):
        """{segment: [hosts]} in host order."""
        found = {}
        for host in self.hosts:
            if host.segment:
                found.setdefault(host.segment, []).append(host)
        return found

    @property
    def with_ha(self):
        """False for a lab brought up with ``up --without-ha``: Nova as it
        ships (the comparison runs of Tempest), no engine, no monitor."""
        return not os.path.exists(self.path('without-ha'))

    # -- addresses ----------------------------------------------------
    def url(self, service, suffix=''):
        return 'http://%s:%d%s' % (BRIDGE_ADDRESS, PORTS[service], suffix)

    @property
    def auth_url(self):
        return self.url('keystone', '/v3')

    def database_url(self, name):
        return '%s/%s%s?charset=utf8' % (MARIADB_URL, self.db_prefix, name)

    def transport_url(self, local=False):
        """RabbitMQ for the lab's services: ``local`` (the control plane
        and the engines, in the root namespace) reach it on loopback; the
        hosts through the relay on the bridge."""
        return 'rabbit://%s:%s@%s:%d/%s' % (
            RABBITMQ_USER, RABBITMQ_PASSWORD,
            '127.0.0.1' if local else BRIDGE_ADDRESS, RABBITMQ_PORT,
            RABBITMQ_VHOST)

    @property
    def redis_url(self):
        # One try per command and short timeouts, as a real deployment
        # would set them (see the README's servicegroup section).
        return 'redis://%s:%d?socket_timeout=2&lock_timeout=5' % (
            COORDINATION_ADDRESS, REDIS_PORT)

    @property
    def clouds_yaml(self):
        return os.path.join(self.etc, 'clouds.yaml')


DEFAULT_BASE = '/var/tmp/nova-ha-lab'


def default_layout(base=None):
    return Layout(base=os.path.abspath(
        base or os.environ.get('NOVA_HA_LAB_DIR') or DEFAULT_BASE))
