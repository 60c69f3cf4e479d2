"""How the IPMI driver talks to ipmitool and reads pyghmi's errors.

ipmitool's outputs below are the ones ipmitool 1.8.19 prints against
pyghmi's fakebmc (see tests/integration/fencing for the live runs).
"""

import testtools
from pyghmi import exceptions as pyghmi_exc

from nova_ha.fencing import base
from nova_ha.fencing import ipmi
from nova_ha.fencing import ipmitool

PASSWORD = 'Vry-s3cret'


class IpmitoolTestCase(testtools.TestCase):

    def test_password_never_on_the_command_line(self):
        argv = ipmitool.build_command('ipmitool', '10.0.0.1', None, 'fence',
                                      None, 5.0, 'off')
        self.assertNotIn('-P', argv)
        self.assertIn('-E', argv)
        self.assertEqual(['chassis', 'power', 'off'], argv[-3:])
        self.assertEqual('3', argv[argv.index('-C') + 1])
        self.assertEqual('623', argv[argv.index('-p') + 1])
        self.assertEqual('OPERATOR', argv[argv.index('-L') + 1])
        env = ipmitool.environment(PASSWORD)
        self.assertEqual(PASSWORD, env['IPMI_PASSWORD'])

    def test_cipher_suite_is_passed(self):
        argv = ipmitool.build_command('/opt/ipmitool', 'bmc', 6230, 'u', 17,
                                      5.0, 'status')
        self.assertEqual('/opt/ipmitool', argv[0])
        self.assertEqual('17', argv[argv.index('-C') + 1])
        self.assertEqual('6230', argv[argv.index('-p') + 1])

    def test_retries_fit_the_request_timeout(self):
        self.assertEqual(1, ipmitool.retries_for(1))
        self.assertEqual(1, ipmitool.retries_for(5))
        self.assertEqual(2, ipmitool.retries_for(6))
        self.assertEqual(3, ipmitool.retries_for(12))

    def test_parse_power_status(self):
        self.assertEqual(base.PowerState.ON, ipmitool.parse_power_status(
            'Running Get VSO Capabilities\nChassis Power is on\n'))
        self.assertEqual(base.PowerState.OFF, ipmitool.parse_power_status(
            'Chassis Power is off'))
        self.assertEqual(base.PowerState.UNKNOWN,
                         ipmitool.parse_power_status('garbage'))

    def classify(self, output):
        return ipmitool.classify_failure(1, output, '10.0.0.1', 'fence')

    def test_wrong_password(self):
        error = self.classify('> RAKP 2 HMAC is invalid\nError: Unable to '
                              'establish IPMI v2 / RMCP+ session\n')
        self.assertIsInstance(error, base.BMCAuthError)
        self.assertIn('refused the password of user fence', str(error))

    def test_unknown_user(self):
        error = self.classify(
            '> Error: no response from RAKP 1 message\nSet Session '
            'Privilege Level to OPERATOR failed\nError: Unable to establish '
            'IPMI v2 / RMCP+ session\n')
        self.assertIsInstance(error, base.BMCAuthError)
        self.assertIn('unknown user name', str(error))

    def test_unreachable(self):
        error = self.classify(
            'Get Auth Capabilities error\nError issuing Get Channel '
            'Authentication Capabilities request\nError: Unable to '
            'establish IPMI v2 / RMCP+ session\n')
        self.assertIsInstance(error, base.BMCUnreachable)

    def test_other_failure_keeps_the_last_line(self):
        error = self.classify('Chassis Power Control: failed: 0xcc\n')
        self.assertIs(type(error), base.FenceError)
        self.assertIn('0xcc', str(error))

    def test_missing_executable_is_a_config_error(self):
        client = ipmitool.IpmitoolClient(base.BMCConfig(
            'ipmi', '127.0.0.1', 9, 'u', PASSWORD,
            {'ipmitool_path': '/nonexistent/ipmitool'}))
        error = self.assertRaises(base.FenceConfigError, client.power_state)
        self.assertIn('ipmitool is not installed', str(error))


class PyghmiErrorTestCase(testtools.TestCase):

    def classify(self, text):
        return ipmi.classify_pyghmi_error(pyghmi_exc.IpmiException(text),
                                          '10.0.0.1', 'fence')

    def test_auth(self):
        self.assertIsInstance(self.classify('Incorrect password provided'),
                              base.BMCAuthError)
        self.assertIsInstance(self.classify('Unauthorized name in RAKP2'),
                              base.BMCAuthError)

    def test_unreachable(self):
        # pyghmi reports a login timeout with no message at all
        self.assertIsInstance(self.classify(None), base.BMCUnreachable)
        self.assertIsInstance(self.classify('timeout'), base.BMCUnreachable)

    def test_other(self):
        error = self.classify('Invalid integrity algorithm')
        self.assertIs(type(error), base.FenceError)


class InterfaceChoiceTestCase(testtools.TestCase):

    def driver(self, **options):
        return ipmi.IPMIFenceDriver('c1', base.BMCConfig(
            'ipmi', '10.0.0.250', 6999, 'fence', PASSWORD, options))

    def test_auto_starts_with_pyghmi(self):
        self.assertEqual('pyghmi', self.driver().client_name)

    def test_cipher_suite_selects_ipmitool(self):
        self.assertEqual('ipmitool',
                         self.driver(cipher_suite=3).client_name)

    def test_explicit_interfaces(self):
        self.assertEqual('ipmitool',
                         self.driver(interface='ipmitool').client_name)
        self.assertEqual('pyghmi', self.driver(
            interface='pyghmi', cipher_suite=3).client_name)

    def test_bad_interface(self):
        self.assertRaises(base.FenceConfigError, self.driver,
                          interface='serial')
