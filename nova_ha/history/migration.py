"""Schema migrations of the history database, run from code.

The alembic environment ships inside the package (``migrations/``), so the
engine upgrades its database on start without an ``alembic.ini`` on disk.
The version table has its own name, so the history may share a database
schema with another alembic-managed application.
"""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import script as alembic_script
from alembic.runtime import migration as alembic_migration

VERSION_TABLE = 'history_alembic_version'

SCRIPT_LOCATION = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               'migrations')


def make_config(connection=None, url=None):
    """An alembic Config for the shipped environment.

    ``connection`` (an open SQLAlchemy Connection) is used as is; ``url`` is
    for offline (SQL script) runs.
    """
    config = alembic_config.Config()
    config.set_main_option('script_location', SCRIPT_LOCATION)
    if url is not None:
        config.set_main_option('sqlalchemy.url',
                               url.replace('%', '%%'))
    if connection is not None:
        config.attributes['connection'] = connection
    return config


def head_revision():
    """The newest revision shipped with this code."""
    scripts = alembic_script.ScriptDirectory.from_config(make_config())
    return scripts.get_current_head()


def current_revision(connection):
    """The revision the database is at, or None when it has no schema."""
    context = alembic_migration.MigrationContext.configure(
        connection, opts={'version_table': VERSION_TABLE})
    return context.get_current_revision()


def upgrade(connection, revision='head'):
    """Upgrade the database behind ``connection`` to ``revision``."""
    command.upgrade(make_config(connection=connection), revision)
