"""OpenStackClient plugin: ``openstack ha ...``.

The client finds this module through the ``openstack.cli.extension`` entry
point (``ha = nova_ha.osc.plugin``) and loads the commands of the
``openstack.ha.v<N>`` entry-point group for the API version in use (only
``1``).  Those are the same cliff command classes as ``nova-ha ...``
(namespace ``nova_ha.cli``); they take the client's authenticated
openstacksdk connection (``client_manager.sdk_connection``) and read
nova-ha's own options from the files named in NOVA_HA_CONFIG_FILE.

nova-ha has no REST API of its own: its state lives in Nova (metadata,
aggregates, services) and in its history database.  The ``ha`` client is
therefore the client's connection to Nova itself.
"""

import logging

from osc_lib import exceptions
from osc_lib import utils

LOG = logging.getLogger(__name__)

API_NAME = 'ha'
API_VERSION_OPTION = 'os_ha_api_version'
DEFAULT_API_VERSION = '1'
API_VERSIONS = ('1',)


def make_client(instance):
    """``client_manager.ha``: the authenticated openstacksdk Connection."""
    LOG.debug('nova-ha client: the OpenStack client\'s sdk connection')
    return instance.sdk_connection


def check_api_version(check_version):
    """Refuse a command-set version nova-ha does not have, naming the
    ones it has; True tells the client the version is checked."""
    if str(check_version) not in API_VERSIONS:
        raise exceptions.UnsupportedVersion(
            'nova-ha command set version %s is not supported; supported: %s'
            % (check_version, ', '.join(API_VERSIONS)))
    return True


def build_option_parser(parser):
    """Add the global option that selects the command set's version."""
    parser.add_argument(
        '--os-ha-api-version', metavar='<ha-api-version>',
        default=utils.env('OS_HA_API_VERSION'),
        help='nova-ha command set version, default=%s (Env: '
             'OS_HA_API_VERSION)' % DEFAULT_API_VERSION)
    return parser
