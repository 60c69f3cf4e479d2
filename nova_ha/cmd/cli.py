"""nova-ha: the operator's command line (cliff).

Commands are plugins in the ``nova_ha.cli`` entry-point namespace, so each
component ships its own (``nova-ha history`` comes from nova_ha.history).
Options come from the same oslo.config files as the services
(``--config-file``, else oslo.config's default search for project
``nova-ha``, e.g. /etc/nova-ha/nova-ha.conf).
"""

import logging
import sys

from cliff import app
from cliff import commandmanager
from oslo_config import cfg
import pbr.version

from nova_ha import conf as nova_ha_conf

NAMESPACE = 'nova_ha.cli'


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


class NovaHaApp(app.App):
    """The nova-ha cliff application; ``self.conf`` holds the options."""

    def __init__(self, **kwargs):
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
        return parser

    def configure_logging(self):
        super().configure_logging()
        # alembic narrates every schema look-up at INFO, cliff's default
        # console level; keep it for -v -v.
        if self.options.verbose_level < 2:
            logging.getLogger('alembic').setLevel(logging.WARNING)

    def initialize_app(self, argv):
        self.conf = load_config(self.options.config_files)


def main(argv=None):
    return NovaHaApp().run(sys.argv[1:] if argv is None else list(argv))


if __name__ == '__main__':
    sys.exit(main())
