"""The history store contract on MariaDB (127.0.0.1:3306, PyMySQL)."""

import unittest

from tests.integration.history import backends
from tests.integration.history import server_contract


class TestMySQLStore(server_contract.ServerStoreContract,
                     unittest.TestCase):
    ADMIN_URL = backends.MYSQL_ADMIN_URL
