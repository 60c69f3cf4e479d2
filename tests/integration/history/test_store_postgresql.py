"""The history store contract on PostgreSQL (127.0.0.1:5432)."""

import unittest

from tests.integration.history import backends
from tests.integration.history import server_contract


class TestPostgreSQLStore(server_contract.ServerStoreContract,
                          unittest.TestCase):
    ADMIN_URL = backends.POSTGRESQL_ADMIN_URL
