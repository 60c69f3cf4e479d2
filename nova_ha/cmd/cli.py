"""nova-ha: the operator's command line (cliff).

Commands are plugins in the ``nova_ha.cli`` entry-point namespace, so each
component ships its own (``nova-ha history`` comes from nova_ha.history).
Options come from the same oslo.config files as the services
(``--config-file``, else oslo.config's default search for project
``nova-ha``, e.g. /etc/nova-ha/nova-ha.conf).

The same command classes also run under the OpenStack client
(``openstack ha ...``), whose application has no ``conf`` and brings its own
authenticated session.  Commands therefore reach both through
``config_of(self.app)`` and ``sdk_connection(self.app)``, never through
attributes of one application.
"""

import argparse
import logging
import os
import sys

from cliff import app
from cliff import commandmanager
from oslo_config import cfg
import pbr.version

from nova_ha import conf as nova_ha_conf

NAMESPACE = 'nova_ha.cli'

# Under the OpenStack client there is no --config-file: this variable names
# the nova-ha configuration files instead (os.pathsep-separated).
CONFIG_ENV = 'NOVA_HA_CONFIG_FILE'


def load_config(config_files):
    """A ConfigOpts with every nova-ha option, read from ``config_files``
    (None: oslo.config's default search)."""
    conf = cfg.ConfigOpts()
    for module in nova_ha_conf._MODULES:
        module.register_opts(conf)
    conf(args=[], project='nova-ha', prog='nova-ha',
         default_config_files=config_files or None,
         validate_default_values=True)
    return conf


def _version():
    try:
        return pbr.version.VersionInfo('nova-ha').version_string()
    except Exception:  # not installed as a distribution (source tree)
        return 'unknown'


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            '%r is not a positive whole number' % text)
    return value


def config_of(app_):
    """The nova-ha options for a command run by ``app_`` (either CLI)."""
    conf = getattr(app_, 'conf', None)
    if conf is None:
        files = [f for f in os.environ.get(CONFIG_ENV, '').split(os.pathsep)
                 if f]
        conf = load_config(files)
        app_.conf = conf
    return conf


def sdk_connection(app_):
    """An openstacksdk Connection for a command run by ``app_``.

    Under ``openstack`` it is the client's own authenticated connection;
    under ``nova-ha`` the one injected into NovaHaApp (tests) or else the
    clouds.yaml entry ``--os-cloud`` / ``[engine] cloud``.
    """
    client_manager = getattr(app_, 'client_manager', None)
    if client_manager is not None:
        return client_manager.sdk_connection
    return app_.sdk_connection()


class NovaHaApp(app.App):
    """The nova-ha cliff application; ``self.conf`` holds the options."""

    def __init__(self, connection=None, **kwargs):
        self._connection = connection
        super().__init__(
            description='nova-ha: high availability for pet VMs on '
                        'OpenStack Nova (operator commands)',
            version=_version(),
            command_manager=commandmanager.CommandManager(NAMESPACE),
            deferred_help=True,
            **kwargs)
        self.conf = None

    def build_option_parser(self, description, version, argparse_kwargs=None):
        parser = super().build_option_parser(description, version,
                                             argparse_kwargs)
        parser.add_argument(
            '--config-file', dest='config_files', action='append',
            default=[], metavar='PATH',
            help='nova-ha configuration file (repeatable; later files '
                 'override earlier ones). Default: oslo.config\'s search '
                 'for nova-ha.conf, e.g. /etc/nova-ha/nova-ha.conf.')
        parser.add_argument(
            '--os-cloud', dest='os_cloud', metavar='NAME',
            default=os.environ.get('OS_CLOUD'),
            help='clouds.yaml entry with admin credentials for Nova\'s API '
                 '(default: env OS_CLOUD, else [engine] cloud).')
        return parser

    def sdk_connection(self):
        if self._connection is None:
            import openstack
            cloud = self.options.os_cloud or config_of(self).engine.cloud
            self._connection = openstack.connect(cloud=cloud)
        return self._connection

    def configure_logging(self):
        super().configure_logging()
        # alembic narrates every schema look-up at INFO, cliff's default
        # console level; keep it for -v -v.
        if self.options.verbose_level < 2:
            logging.getLogger('alembic').setLevel(logging.WARNING)

    def initialize_app(self, argv):
        self.conf = load_config(self.options.config_files)


def main(argv=None, connection=None):
    return NovaHaApp(connection=connection).run(sys.argv[1:] if argv is None else list(argv))


if __name__ == '__main__':
    sys.exit(main())
