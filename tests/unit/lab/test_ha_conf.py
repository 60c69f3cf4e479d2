"""nova-ha.conf of the lab's engines and host monitors, written to a real
lab directory and read back with oslo.config as the services read it:
a key per host for the monitor events, a key per segment for the peer
probes, and the software watchdog believed only by an explicit opt-in."""

import os
import stat
import tempfile
import unittest

from oslo_config import cfg

from nova_ha import conf as ha_conf

from nova_ha_lab import ha_conf as lab_ha_conf
from nova_ha_lab import layout as lab


def read(path):
    conf = cfg.ConfigOpts()
    for module in ha_conf._MODULES:
        module.register_opts(conf)
    conf(['--config-file', path], project='nova-ha-test',
         default_config_files=[], default_config_dirs=[])
    return conf


class LabHaConfTest(unittest.TestCase):

    def setUp(self):
        self.layout = self.lab()
        self.engine_path = lab_ha_conf.write_engine_conf(self.layout)
        self.engine = read(self.engine_path)
        self.monitors = {h.name: self.monitor(self.layout, h)
                         for h in self.layout.hosts}

    def lab(self):
        base = tempfile.mkdtemp(prefix='nova-ha-lab-conf-')
        self.addCleanup(_rmtree, base)
        return lab.Layout(base=base, db_prefix='t_')

    def monitor(self, layout, host):
        return read(lab_ha_conf.write_monitor_conf(
            layout, host, os.path.join(layout.run, host.name + '.pid')))

    def test_each_host_signs_with_its_own_key_known_to_the_engine(self):
        keys = {name: conf.monitor.event_key
                for name, conf in self.monitors.items()}
        self.assertTrue(all(keys.values()), keys.keys())
        self.assertEqual(len(keys), len(set(keys.values())))
        self.assertEqual(keys, self.engine.event_signing.host_keys)
        self.assertTrue(self.engine.event_signing.required)

    def test_the_hosts_of_a_segment_share_a_probe_key_of_their_own(self):
        by_segment = {}
        for host in self.layout.hosts:
            options = self.monitors[host.name].monitor_peers
            if not host.segment:
                self.assertFalse(options.enabled)
                continue
            self.assertTrue(options.enabled)
            self.assertTrue(options.key)
            by_segment.setdefault(host.segment, set()).add(options.key)
        self.assertEqual({'seg-a', 'seg-b'}, set(by_segment))
        self.assertTrue(all(len(keys) == 1 for keys in by_segment.values()))
        self.assertEqual(2, len(set.union(*by_segment.values())))

    def test_keys_are_the_labs_own_and_kept_across_rewrites(self):
        host = self.layout.host('a1')
        again = self.monitor(self.layout, host)
        self.assertEqual(self.monitors['a1'].monitor.event_key,
                         again.monitor.event_key)
        self.assertEqual(self.monitors['a1'].monitor_peers.key,
                         again.monitor_peers.key)
        other = self.monitor(self.lab(), host)
        self.assertNotEqual(self.monitors['a1'].monitor.event_key,
                            other.monitor.event_key)
        self.assertNotEqual(self.monitors['a1'].monitor_peers.key,
                            other.monitor_peers.key)
        self.assertGreaterEqual(len(other.monitor.event_key), 32)

    def test_files_with_keys_are_readable_by_their_owner_only(self):
        paths = [self.engine_path] + [
            lab_ha_conf.monitor_conf_path(self.layout, h)
            for h in self.layout.hosts] + [
            lab_ha_conf.secret_path(self.layout)]
        for path in paths:
            with self.subTest(path):
                self.assertEqual(0o600, stat.S_IMODE(os.stat(path).st_mode))

    def test_the_software_watchdog_is_believed_by_an_explicit_opt_in(self):
        self.assertIn('software', self.engine.watchdog_rung.kinds)
        with open(self.engine_path) as f:
            text = f.read()
        section = text.split('[watchdog_rung]')[1].split('\n[')[0]
        self.assertIn('lab', section.lower())
        self.assertIn('#', section)
        for conf in self.monitors.values():
            self.assertEqual('software', conf.watchdog.kind)


def _rmtree(path):
    import shutil
    shutil.rmtree(path, True)
