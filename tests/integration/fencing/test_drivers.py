"""One contract, every fence driver, real BMC peers.

The same test cases run against the IPMI driver (pyghmi's fakebmc, in
``auto`` and in ``ipmitool`` mode), the Redfish driver (sushy-tools'
emulator with its fake driver and basic auth) and the no-op driver.  Each
peer runs in a child process on a loopback port; nothing is mocked.
"""

import io
import os
import logging
import socket
import sys
import tempfile
import time
import unittest

from oslo_config import cfg

from nova_ha.conf import fencing as fencing_conf
from nova_ha.fencing import base
from nova_ha.fencing import ipmi
from nova_ha.fencing import registry
from tests.integration.fencing import peers


class CapturedLogs:
    """Every log record of every logger, as text."""

    def __init__(self):
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.setFormatter(logging.Formatter(
            '%(levelname)s %(name)s %(message)s'))
        self.handler.setLevel(logging.DEBUG)
        self.root = logging.getLogger()

    def __enter__(self):
        self.level = self.root.level
        self.root.addHandler(self.handler)
        self.root.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc):
        self.root.removeHandler(self.handler)
        self.root.setLevel(self.level)

    @property
    def text(self):
        return self.stream.getvalue()


class DriverContract:
    """The cases every driver must pass; subclasses provide the peer.

    Hooks: ``prepare(name, powered_on)`` returns a target, ``bmc(target,
    password=None, unreachable=False)`` its BMCConfig, ``peer_power(target)``
    the peer's own view ('on'/'off'), and ``FENCES`` False for a driver
    that never fences.
    """

    FENCES = True
    TIMEOUT = 20.0
    POLL = 0.25
    PASSWORD = None
    WRONG_PASSWORD = 'Wr0ng-Passw0rd-Zz'

    def fence(self, bmc, host='compute-1'):
        driver = registry.driver_class(bmc.driver)(host, bmc)
        with CapturedLogs() as logs:
            started = time.monotonic()
            result = driver.fence(self.TIMEOUT, poll_interval=self.POLL)
            wall = time.monotonic() - started
        for secret in filter(None, (self.PASSWORD, self.WRONG_PASSWORD)):
            for text in (logs.text, result.detail, repr(result),
                         repr(driver), str(result.to_dict())):
                self.assertNotIn(secret, text)
        self.logs = logs.text
        self.assertLess(wall, self.TIMEOUT + 6.0)
        return result

    def assertNotFenced(self, result):
        self.assertEqual(base.FenceOutcome.NOT_FENCED, result.outcome)
        self.assertFalse(result.confirmed_off)
        self.assertIn('NOT fenced', result.detail)

    def test_fence_powered_on_host(self):
        target = self.prepare('fence-me', powered_on=True)
        result = self.fence(self.bmc(target))
        if not self.FENCES:
            return self.assertNotFenced(result)
        self.assertEqual(base.FenceOutcome.FENCED, result.outcome,
                         result.detail)
        self.assertTrue(result.confirmed_off)
        self.assertEqual(base.PowerState.OFF, result.power_state)
        self.assertGreaterEqual(result.attempts, 1)
        self.assertEqual('off', self.peer_power(target))

    def test_already_off(self):
        target = self.prepare('already-off', powered_on=False)
        result = self.fence(self.bmc(target))
        if not self.FENCES:
            return self.assertNotFenced(result)
        self.assertEqual(base.FenceOutcome.ALREADY_OFF, result.outcome,
                         result.detail)
        self.assertTrue(result.confirmed_off)
        self.assertEqual(0, result.attempts)

    def test_wrong_password(self):
        target = self.prepare('wrong-password', powered_on=True)
        result = self.fence(self.bmc(target, password=self.WRONG_PASSWORD))
        if not self.FENCES:
            return self.assertNotFenced(result)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertFalse(result.confirmed_off)
        self.assertRegex(result.detail, 'refused the (password|credentials)')
        self.assertEqual(0, result.attempts)
        self.assertEqual('on', self.peer_power(target))

    def test_unreachable_bmc_fails_fast(self):
        target = self.prepare('unreachable', powered_on=True)
        started = time.monotonic()
        result = self.fence(self.bmc(target, unreachable=True))
        if not self.FENCES:
            return self.assertNotFenced(result)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertIn('did not answer', result.detail)
        self.assertLess(time.monotonic() - started, self.TIMEOUT)
        self.assertEqual(0, result.attempts)

    def test_fence_through_configuration(self):
        target = self.prepare('config-path', powered_on=True)
        bmc = self.bmc(target)
        lines = ['[fencing]', 'timeout = %s' % self.TIMEOUT,
                 'poll_interval = %s' % self.POLL,
                 '[fencing_host:compute-9]', 'driver = %s' % bmc.driver]
        for key, value in (('address', bmc.address), ('port', bmc.port),
                           ('username', bmc.username),
                           ('password', bmc.password)):
            if value is not None:
                lines.append('%s = %s' % (key, value))
        lines += ['%s = %s' % item for item in sorted(bmc.options.items())]
        conf = cfg.ConfigOpts()
        fencing_conf.register_opts(conf)
        with tempfile.NamedTemporaryFile('w', suffix='.conf') as f:
            f.write('\n'.join(lines) + '\n')
            f.flush()
            conf(['--config-file', f.name], project='nova-ha',
                 default_config_files=[], default_config_dirs=[])
        with CapturedLogs() as logs:
            result = registry.fence_host('compute-9', conf)
        if self.PASSWORD:
            self.assertNotIn(self.PASSWORD, logs.text)
        self.assertEqual('compute-9', result.host)
        if not self.FENCES:
            return self.assertNotFenced(result)
        self.assertEqual(base.FenceOutcome.FENCED, result.outcome,
                         result.detail)
        self.assertEqual('off', self.peer_power(target))


class IPMIContract(DriverContract):
    """The IPMI driver against pyghmi's fakebmc (one BMC, one host)."""

    PASSWORD = peers.FAKEBMC_PASSWORD
    TIMEOUT = 10.0
    OPTIONS = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.peer = peers.FakeBMC(peers.workdir(cls))
        cls.addClassCleanup(cls.peer.stop)
        cls.dead_port = peers.free_port(socket.SOCK_DGRAM)

    def prepare(self, name, powered_on):
        self.assertIsNotNone(self.peer.power('on' if powered_on else 'off'))
        self.assertEqual('on' if powered_on else 'off',
                         self.peer.power('status'))
        return name

    def peer_power(self, target):
        return self.peer.power('status')

    def bmc(self, target, password=None, unreachable=False):
        return base.BMCConfig(
            driver='ipmi', address='127.0.0.1',
            port=self.dead_port if unreachable else self.peer.port,
            username=peers.FAKEBMC_USER,
            password=password or peers.FAKEBMC_PASSWORD,
            options=dict(self.OPTIONS, request_timeout=2.0))


class TestIPMIAutoDriver(IPMIContract, unittest.TestCase):
    """interface = auto: pyghmi first, ipmitool once pyghmi cannot
    negotiate with fakebmc (it offers suite 17 and fakebmc answers in 3)."""

    def test_auto_falls_back_to_ipmitool_and_remembers(self):
        ipmi._NEEDS_IPMITOOL.discard(('127.0.0.1', self.peer.port))
        self.prepare('fallback', powered_on=True)
        driver = ipmi.IPMIFenceDriver('compute-1', self.bmc('fallback'))
        self.assertEqual('pyghmi', driver.client_name)
        with CapturedLogs() as logs:
            result = driver.fence(self.TIMEOUT, poll_interval=self.POLL)
        self.assertEqual(base.FenceOutcome.FENCED, result.outcome,
                         result.detail)
        self.assertEqual('ipmitool', driver.client_name)
        self.assertIn('pyghmi cannot set up a session', logs.text)
        again = ipmi.IPMIFenceDriver('compute-1', self.bmc('fallback'))
        self.assertEqual('ipmitool', again.client_name)

    def test_pyghmi_only_fails_with_advice(self):
        self.prepare('pyghmi-only', powered_on=True)
        bmc = self.bmc('pyghmi-only')
        bmc.options['interface'] = 'pyghmi'
        result = self.fence(bmc)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertIn('pyghmi cannot set up a session', result.detail)
        self.assertIn('interface = ipmitool', result.detail)
        self.assertEqual('on', self.peer_power('pyghmi-only'))


    def test_a_bmc_met_while_down_is_read_once_it_is_back(self):
        # The lab's power_and_bmc scenario: an engine first met a BMC that
        # was down.  pyghmi kept the broken session in its class-level
        # cache and handed it back for every later read ("Session no
        # longer connected" in 0.0 s), so once the BMC was back that host
        # still could not be read or fenced by that engine.
        workdir = peers.workdir(self)
        down = peers.FakeBMC(workdir)
        port = down.port
        down.stop()
        ipmi._NEEDS_IPMITOOL.discard(('127.0.0.1', port))
        bmc = base.BMCConfig(
            driver='ipmi', address='127.0.0.1', port=port,
            username=peers.FAKEBMC_USER, password=peers.FAKEBMC_PASSWORD,
            options={'request_timeout': 2.0})

        def read():
            driver = ipmi.IPMIFenceDriver('compute-1', bmc)
            try:
                return driver.get_power_state()
            finally:
                driver.close()
        with self.assertRaises(base.BMCUnreachable):
            read()
        back = peers.Peer(
            [sys.executable, '-c', peers.FAKEBMC_MAIN, peers.FAKEBMC_USER,
             peers.FAKEBMC_PASSWORD, str(port), '0'],
            os.path.join(workdir, 'fakebmc-back.log'))
        self.addCleanup(back.stop)
        deadline = time.monotonic() + 15
        answer = None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = read()
            except base.BMCUnreachable:
                time.sleep(0.5)
        self.assertEqual(base.PowerState.OFF, answer)


class TestIPMIToolDriver(IPMIContract, unittest.TestCase):
    """interface = ipmitool with cipher suite 3, as for a suite-3-only BMC."""

    OPTIONS = {'interface': 'ipmitool', 'cipher_suite': 3}


class TestRedfishDriver(DriverContract, unittest.TestCase):
    """The Redfish driver against sushy-tools' emulator (fake driver, basic
    auth); its power changes land 1-11 s after the request."""

    PASSWORD = peers.REDFISH_PASSWORD
    TIMEOUT = 20.0
    SYSTEMS = {'fence-me': 'On', 'already-off': 'Off',
               'wrong-password': 'On', 'unreachable': 'On',
               'config-path': 'On'}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.peer = peers.RedfishEmulator(peers.workdir(cls), cls.SYSTEMS)
        cls.addClassCleanup(cls.peer.stop)
        cls.dead_port = peers.free_port(socket.SOCK_STREAM)

    def prepare(self, name, powered_on):
        self.assertEqual('On' if powered_on else 'Off', self.SYSTEMS[name])
        self.assertEqual(self.SYSTEMS[name], self.peer.power_state(name))
        return name

    def peer_power(self, target):
        return self.peer.power_state(target).lower()

    def bmc(self, target, password=None, unreachable=False):
        url = self.peer.url
        if unreachable:
            url = 'http://127.0.0.1:%d' % self.dead_port
        return base.BMCConfig(
            driver='redfish', address=url, port=None,
            username=peers.REDFISH_USER,
            password=password or peers.REDFISH_PASSWORD,
            options={'system_id': self.peer.system_id(target),
                     'request_timeout': 2.0})


class TestNoopDriver(DriverContract, unittest.TestCase):
    """The no-op driver touches no BMC and never claims power off."""

    FENCES = False

    def prepare(self, name, powered_on):
        return name

    def bmc(self, target, password=None, unreachable=False):
        return base.BMCConfig(driver='noop')

    def peer_power(self, target):
        raise AssertionError('the noop driver has no peer')

