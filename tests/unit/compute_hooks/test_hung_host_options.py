"""The options of the hung-host channels as nova-ha-monitor and the engine
read them: the probe key a segment must share, the watchdog kinds the
engine believes by default."""

import unittest

from oslo_config import cfg
from oslo_config import fixture as config_fixture

from nova_ha import conf as ha_conf
from nova_ha.compute_hooks import service
from nova_ha.conf import self_fence as self_fence_conf
from nova_ha.servicegroup import self_fence


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


class TestRungKinds(HungHostConfTestCase):

    def test_the_engine_believes_only_hardware_watchdogs_by_default(self):
        self.assertEqual(['hardware'], self.conf.watchdog_rung.kinds)

    def test_every_kind_of_the_rung_may_be_chosen(self):
        self.set('watchdog_rung', kinds=list(self_fence.KINDS))
        self.assertEqual(list(self_fence.KINDS),
                         self.conf.watchdog_rung.kinds)

    def test_an_unknown_kind_is_refused(self):
        self.assertRaises(ValueError, self.set, 'watchdog_rung',
                          kinds=['hardware', 'sofdog'])

    def test_the_help_says_what_each_opt_in_risks(self):
        (kinds,) = [o for o in self_fence_conf.RUNG_OPTS
                    if o.name == 'kinds']
        text = kinds.help.lower()
        for word in ('ipmi', 'bmc', 'softdog', 'twice', 'software'):
            self.assertIn(word, text)
