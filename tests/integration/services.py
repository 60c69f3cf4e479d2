"""The real services the integration tests use, and how a test asks for one.

A missing service or tool skips the test on a developer's machine and fails
it under CI=true, where everything must be present (.ci/run installs it).
"""

import os
import socket
import time
import unittest

REDIS = ('127.0.0.1', 6379)
RABBITMQ = ('127.0.0.1', 5672)
RABBIT_URL = os.environ.get('NOVA_HA_RABBIT_URL',
                            'rabbit://guest:guest@127.0.0.1:5672/')


def skip_or_fail(reason):
    if os.environ.get('CI') == 'true':
        raise AssertionError('CI: %s' % reason)
    raise unittest.SkipTest(reason)


def reachable(address, timeout=2.0):
    try:
        socket.create_connection(address, timeout=timeout).close()
        return True
    except OSError:
        return False


def require(name, address):
    """Skip (or fail under CI) unless ``address`` accepts connections."""
    if not reachable(address):
        skip_or_fail('%s is not reachable on %s:%d' % ((name,) + address))


def require_redis(testcase=None):
    require('Redis', REDIS)


def rabbit_reachable():
    return reachable(RABBITMQ)


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError('%s not ready within %s s' % (what, timeout))
