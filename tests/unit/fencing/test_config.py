"""Per-host BMC configuration, as an operator writes it in nova-ha.conf,
and the drivers it selects through the installed entry points."""

import logging
import os
import tempfile
import textwrap

import fixtures
import testtools
from oslo_config import cfg

from nova_ha.conf import fencing as fencing_conf
from nova_ha.fencing import base
from nova_ha.fencing import ipmi
from nova_ha.fencing import ipmitool
from nova_ha.fencing import noop
from nova_ha.fencing import redfish
from nova_ha.fencing import registry

PASSWORD = 'Vry-s3cret'


def make_conf(text):
    conf = cfg.ConfigOpts()
    fencing_conf.register_opts(conf)
    with tempfile.NamedTemporaryFile('w', suffix='.conf',
                                     delete=False) as f:
        f.write(textwrap.dedent(text))
    try:
        conf(['--config-file', f.name], project='nova-ha',
             default_config_files=[], default_config_dirs=[])
    finally:
        os.unlink(f.name)
    return conf


class ConfigTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.log = self.useFixture(fixtures.FakeLogger(level=logging.DEBUG))

    def test_host_section(self):
        conf = make_conf("""
            [fencing]
            timeout = 30
            poll_interval = 0.25
            [fencing_host:compute-1]
            driver = ipmi
            address = 10.0.0.11
            port = 6230
            username = fence
            password = %s
            cipher_suite = 3
            """ % PASSWORD)
        bmc = registry.load_bmc_config('compute-1', conf)
        self.assertEqual(base.BMCConfig(
            driver='ipmi', address='10.0.0.11', port=6230, username='fence',
            password=PASSWORD,
            options={'cipher_suite': 3, 'request_timeout': 5.0}), bmc)
        self.assertEqual((30.0, 0.25), registry.fence_timeouts(conf))
        driver = registry.fencer_for('compute-1', conf)
        self.assertIsInstance(driver, ipmi.IPMIFenceDriver)
        # a cipher suite can only be honoured by ipmitool
        self.assertIsInstance(driver.client, ipmitool.IpmitoolClient)
        self.assertNotIn(PASSWORD, repr(driver))
        self.assertNotIn(PASSWORD, self.log.output)

    def test_defaults_fill_in_and_host_wins(self):
        conf = make_conf("""
            [fencing_host_defaults]
            driver = ipmi
            username = fleet
            password = %s
            address = {host}-bmc.example.net
            [fencing_host:compute-7]
            driver = redfish
            address = https://10.0.0.7
            system_id = 1
            verify_tls = false
            request_timeout = 9
            """ % PASSWORD)
        bmc = registry.load_bmc_config('compute-7', conf)
        self.assertEqual('redfish', bmc.driver)
        self.assertEqual('https://10.0.0.7', bmc.address)
        self.assertEqual('fleet', bmc.username)
        self.assertEqual({'system_id': '1', 'verify_tls': False,
                          'request_timeout': 9.0}, bmc.options)
        driver = registry.fencer_for('compute-7', conf)
        self.assertIsInstance(driver, redfish.RedfishFenceDriver)
        self.assertFalse(driver.verify)
        other = registry.load_bmc_config('compute-3', conf)
        self.assertEqual('ipmi', other.driver)
        self.assertEqual('compute-3-bmc.example.net', other.address)
        self.assertEqual(['compute-7'], registry.configured_hosts(conf))

    def test_missing_host_is_an_error_not_a_noop(self):
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = noop
            """)
        error = self.assertRaises(base.FenceConfigError,
                                  registry.fencer_for, 'compute-2', conf)
        self.assertIn('host compute-2 has no BMC configured', str(error))
        self.assertIn('[fencing_host:compute-2]', str(error))
        self.assertIn('driver = noop', str(error))

    def test_section_without_driver_is_an_error(self):
        conf = make_conf("""
            [fencing_host:compute-1]
            address = 10.0.0.1
            """)
        error = self.assertRaises(base.FenceConfigError,
                                  registry.fencer_for, 'compute-1', conf)
        self.assertIn('sets no driver', str(error))

    def test_unparsed_conf_has_no_hosts(self):
        conf = cfg.ConfigOpts()
        fencing_conf.register_opts(conf)
        self.assertRaises(base.FenceConfigError,
                          registry.fencer_for, 'compute-1', conf)

    def test_noop_when_explicit(self):
        conf = make_conf("""
            [fencing_host:lab-1]
            driver = noop
            """)
        driver = registry.fencer_for('lab-1', conf)
        self.assertIsInstance(driver, noop.NoopFenceDriver)
        result = registry.fence_host('lab-1', conf)
        self.assertEqual(base.FenceOutcome.NOT_FENCED, result.outcome)

    def test_noop_as_explicit_default(self):
        conf = make_conf("""
            [fencing_host_defaults]
            driver = noop
            """)
        self.assertIsInstance(registry.fencer_for('any-host', conf),
                              noop.NoopFenceDriver)

    def test_driver_name_tells_the_engine_which_hosts_power_off(self):
        # The storm guard judges a report at once only for hosts whose
        # fencing powers them off (nova_ha.engine.guards).
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = ipmi
            address = 10.0.0.1
            username = admin
            password = secret
            [fencing_host:lab-1]
            driver = noop
            """)
        self.assertEqual('ipmi', registry.driver_name('compute-1', conf))
        self.assertEqual('noop', registry.driver_name('lab-1', conf))
        self.assertIsNone(registry.driver_name('compute-9', conf))

    def test_unknown_driver(self):
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = ilo
            """)
        error = self.assertRaises(base.FenceConfigError,
                                  registry.fencer_for, 'compute-1', conf)
        self.assertIn("unknown fence driver 'ilo'", str(error))
        self.assertIn('ipmi, noop, redfish', str(error))

    def test_malformed_port(self):
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = ipmi
            port = six-two-three
            """)
        error = self.assertRaises(base.FenceConfigError,
                                  registry.load_bmc_config, 'compute-1', conf)
        self.assertIn('[fencing_host:compute-1] port is invalid', str(error))

    def test_malformed_interface(self):
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = ipmi
            interface = serial
            """)
        error = self.assertRaises(base.FenceConfigError,
                                  registry.load_bmc_config, 'compute-1', conf)
        self.assertIn('interface is invalid', str(error))

    def test_ipmi_needs_address_and_user(self):
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = ipmi
            username = fence
            """)
        error = self.assertRaises(base.FenceConfigError,
                                  registry.fencer_for, 'compute-1', conf)
        self.assertIn('has no BMC address', str(error))

    def test_redfish_refuses_credentials_in_url(self):
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = redfish
            address = https://root:%s@10.0.0.1
            """ % PASSWORD)
        error = self.assertRaises(base.FenceConfigError,
                                  registry.fencer_for, 'compute-1', conf)
        self.assertIn('must not carry credentials', str(error))
        self.assertNotIn(PASSWORD, str(error))

    def test_fence_host_turns_config_errors_into_failures(self):
        conf = make_conf("""
            [fencing]
            timeout = 5
            """)
        result = registry.fence_host('compute-9', conf)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertFalse(result.confirmed_off)
        self.assertIn('configuration error: host compute-9 has no BMC',
                      result.detail)
        self.assertIn('cannot fence host compute-9', self.log.output)

    def test_every_host_section_is_checked_at_start(self):
        # What nova-ha-engine logs when it starts: hosts that can be
        # fenced with their driver, and why the others cannot (without
        # their secrets).
        conf = make_conf("""
            [fencing_host:compute-1]
            driver = ipmi
            address = 10.0.0.11
            username = fence
            password = %(pw)s
            [fencing_host:compute-2]
            driver = noop
            [fencing_host:compute-3]
            driver = redfish
            address = https://root:%(pw)s@10.0.0.13
            [fencing_host:compute-4]
            driver = telepathy
            password = %(pw)s
            """ % {'pw': PASSWORD})
        ready, broken = registry.check_configured_hosts(conf)
        self.assertEqual({'compute-1': 'ipmi', 'compute-2': 'noop'}, ready)
        self.assertEqual(['compute-3', 'compute-4'], sorted(broken))
        self.assertIn('must not carry credentials', broken['compute-3'])
        self.assertIn("unknown fence driver 'telepathy'",
                      broken['compute-4'])
        self.assertNotIn(PASSWORD, repr(broken))

    def test_password_is_a_secret_option(self):
        conf = make_conf("""
            [fencing_host_defaults]
            password = %s
            """ % PASSWORD)
        logger = logging.getLogger('test-opts')
        conf.log_opt_values(logger, logging.INFO)
        self.assertIn('fencing_host_defaults.password', self.log.output)
        self.assertNotIn(PASSWORD, self.log.output)


class RedfishAddressTestCase(testtools.TestCase):

    def test_base_url(self):
        self.assertEqual('https://10.0.0.1', redfish.base_url('10.0.0.1'))
        self.assertEqual('http://bmc:8000',
                         redfish.base_url('http://bmc:8000/redfish/v1'))
        self.assertEqual('https://bmc:8443',
                         redfish.base_url('bmc:443', port=8443))
        self.assertEqual('https://[fd00::1]:443',
                         redfish.base_url('https://[fd00::1]:443'))

    def test_bad_addresses(self):
        for address in ('', 'ftp://bmc', 'https://bmc:99999'):
            self.assertRaises(base.FenceConfigError, redfish.base_url,
                              address)

    def test_system_path(self):
        self.assertEqual('/redfish/v1/Systems/System.Embedded.1',
                         redfish.system_path('System.Embedded.1'))
        self.assertEqual('/redfish/v1/Systems/a%2Fb',
                         redfish.system_path('a/b'))
        self.assertEqual('/x/1', redfish.system_path('/x/1'))
