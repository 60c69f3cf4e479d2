"""Alembic environment of the history database.

Run programmatically by :func:`nova_ha.history.migration.upgrade`, which hands
over an open connection in ``config.attributes['connection']``; the plain
``alembic`` command works too, given ``sqlalchemy.url`` and
``script_location = nova_ha.history:migrations`` in an ini file.
"""

from alembic import context
import sqlalchemy as sa

from nova_ha.history import migration
from nova_ha.history import models

config = context.config


def _configure(**kwargs):
    context.configure(target_metadata=models.metadata,
                      version_table=migration.VERSION_TABLE,
                      **kwargs)


def run_migrations_offline():
    _configure(url=config.get_main_option('sqlalchemy.url'),
               literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def _run_online(connection):
    _configure(connection=connection,
               render_as_batch=connection.dialect.name == 'sqlite')
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    connection = config.attributes.get('connection')
    if connection is not None:
        _run_online(connection)
        return
    engine = sa.create_engine(config.get_main_option('sqlalchemy.url'),
                              poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_online(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
