"""nova-ha-engine at start: how long each side effect may take, and a
lease too short for them said in the log.

A worker refuses to start a guarded action whose lease may lapse before
it ends; with a lease shorter than a fence or a Nova call, the engine
would refuse every one of them, which an operator must hear at start,
not when a host dies.
"""

import logging
import os
import tempfile
import textwrap

import fixtures
from oslo_config import cfg
import testtools

from nova_ha.cmd import engine as engine_cmd
from nova_ha.conf import engine as engine_conf
from nova_ha.conf import fencing as fencing_conf
from nova_ha.engine import model
from nova_ha.engine import real_env


def make_conf(text):
    conf = cfg.ConfigOpts()
    fencing_conf.register_opts(conf)
    engine_conf.register_opts(conf)
    with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                     delete=False) as f:
        f.write(textwrap.dedent(text))
    try:
        conf(['--config-file', f.name], project='nova-ha',
             default_config_files=[], default_config_dirs=[])
    finally:
        os.unlink(f.name)
    return conf


CONF_TEXT = """
    [engine]
    nova_api_timeout = 10
    [fencing]
    timeout = 20
    request_timeout = 3
    [fencing_host:compute-1]
    driver = noop
    [fencing_host:compute-2]
    driver = noop
    request_timeout = 6
    """


def env_of(conf):
    return real_env.RealEnvironment(
        'engine-1', nova=None, history=None, leases=None, fencer=None,
        power_reader=None, nova_timeout=conf.engine.nova_api_timeout,
        fence_deadline=engine_cmd.make_fence_deadline(conf))


class TestLeaseTime(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.INFO))
        self.conf = make_conf(CONF_TEXT)
        self.env = env_of(self.conf)

    def test_a_fence_may_overrun_its_timeout_by_its_bmc_calls(self):
        def bound(host):
            return self.env.side_effect_timeout(model.Fence(host=host))
        self.assertEqual(20 + 2 * 3, bound('compute-1'))
        self.assertEqual(20 + 2 * 6, bound('compute-2'))
        # A host without a BMC fails at once; the [fencing] calls bound it.
        self.assertEqual(20 + 2 * 3, bound('compute-9'))
        self.assertEqual(10, self.env.side_effect_timeout(
            model.Evacuate(vm='v')))

    def test_a_lease_too_short_for_a_side_effect_is_an_error_at_start(self):
        ttl = 30
        complaints = engine_cmd.check_lease_time(
            self.conf, ttl, ttl / engine_cmd.RENEWALS,
            self.env.side_effect_timeout)
        # 22.5 s are left between renewals: the fence of compute-2 (32 s)
        # and of compute-1 (26 s) would never start; a Nova call would.
        self.assertEqual([26, 32], sorted(s for _, s in complaints))
        self.assertIn('the fence of compute-2', self.log.output)
        self.assertIn('Raise lock_timeout above 43 s', self.log.output)
        self.assertNotIn('a Nova call', self.log.output)

    def test_a_long_enough_lease_or_none_says_nothing(self):
        for ttl in (50, None):
            self.assertEqual([], engine_cmd.check_lease_time(
                self.conf, ttl, ttl and ttl / engine_cmd.RENEWALS,
                self.env.side_effect_timeout))
        self.assertEqual('', self.log.output)
