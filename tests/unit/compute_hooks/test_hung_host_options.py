"""The options of the hung-host channels as nova-ha-monitor reads them:
the probe key a segment must share."""

import unittest

from oslo_config import cfg
from oslo_config import fixture as config_fixture

from nova_ha import conf as ha_conf
from nova_ha.compute_hooks import service
from nova_ha.conf import self_fence as self_fence_conf


class HungHostConfTestCase(unittest.TestCase):

    def setUp(self):
        conf = cfg.ConfigOpts()
        for module in ha_conf._MODULES:
            module.register_opts(conf)
        self.fixture = config_fixture.Config(conf)
        self.fixture.setUp()
        self.addCleanup(self.fixture.cleanUp)
        self.conf = conf
        conf([])
        # Only the peer probes: no process, heartbeat or libvirt monitor.
        self.set('monitor', host='h1', host_heartbeat=False,
                 libvirt_events=False)
        self.set('monitor_nova_compute', enabled=False)
        # On loopback, on a port of the kernel's choice.
        self.set('monitor_peers', address='127.0.0.1', port=0)

    def set(self, group, **options):
        self.fixture.config(group=group, **options)

    def service(self):
        built = service.MonitorService(self.conf, publisher=object())
        if built.peers is not None:
            self.addCleanup(built.peers.stop)
        return built


class TestProbeKey(HungHostConfTestCase):

    def test_peers_without_a_key_are_a_config_error(self):
        self.set('monitor_peers', enabled=True,
                 peers=['h1=127.0.0.1', 'h2=127.0.0.2'])
        with self.assertRaises(service.MonitorConfigError) as caught:
            self.service()
        self.assertIn('[monitor_peers] key', str(caught.exception))

    def test_an_empty_key_is_no_key(self):
        self.set('monitor_peers', enabled=True, peers=['h2=127.0.0.2'],
                 key='')
        with self.assertRaises(service.MonitorConfigError) as caught:
            self.service()
        self.assertIn('[monitor_peers] key', str(caught.exception))

    def test_a_key_lets_the_monitor_probe(self):
        self.set('monitor_peers', enabled=True, peers=['h2=127.0.0.2'],
                 key='0123456789abcdef')
        built = self.service()
        self.assertEqual({'h2': '127.0.0.2'}, built.peers.peers)

    def test_no_key_is_needed_without_probing(self):
        self.set('monitor_peers', peers=['h2=127.0.0.2'])
        self.assertIsNone(self.service().peers)

    def test_the_key_is_secret_and_its_help_says_it_is_required(self):
        (key,) = [o for o in self_fence_conf.PEERS_OPTS if o.name == 'key']
        self.assertTrue(key.secret)
        self.assertIsNone(key.default)
        self.assertIn('required', key.help)
