"""The Nova driver and its loader, against the installed Nova 34.

The backend is the embedded one (tooz file driver in a temp directory):
real membership, no server needed.
"""

import datetime
import subprocess
import sys
import tempfile
import time
import unittest

import oslo_messaging
from oslo_utils import timeutils

import nova.conf
from nova import servicegroup
from nova.servicegroup import api as sg_api

from nova_ha.servicegroup import driver as ha_driver
from nova_ha.servicegroup import heartbeat
from nova_ha.servicegroup import loader

CONF = nova.conf.CONF


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for %s' % predicate)
        time.sleep(0.02)


def service_ref(host, seen_ago_s, topic='compute'):
    seen = timeutils.utcnow() - datetime.timedelta(seconds=seen_ago_s)
    return {'host': host, 'topic': topic, 'binary': 'nova-' + topic,
            'forced_down': False, 'last_seen_up': seen, 'created_at': seen,
            'updated_at': seen}


class TestLoader(unittest.TestCase):

    def test_notify_entry_point_enables_the_driver_name(self):
        # Exactly what nova.rpc.init does with the configured driver list.
        transport = oslo_messaging.get_notification_transport(
            CONF, url='fake:/')
        oslo_messaging.Notifier(transport, driver='nova_ha_loader')
        self.assertEqual(loader.DRIVER_CLASS,
                         sg_api._driver_name_class_mapping['nova_ha'])
        CONF.set_override('servicegroup_driver', 'nova_ha')
        self.addCleanup(CONF.clear_override, 'servicegroup_driver')
        self.assertEqual('nova_ha', CONF.servicegroup_driver)

    def test_nova_refuses_the_name_without_the_loader(self):
        # Fails closed: without the loader line a service configured with
        # nova_ha stops at start instead of running another driver.  A
        # fresh process: the loader changes Nova's option object in place.
        code = (
            'import sys, nova.conf\n'
            'c = nova.conf.CONF\n'
            'c([], default_config_files=[sys.argv[1]])\n'
            'c.servicegroup_driver\n')
        with tempfile.NamedTemporaryFile('w', suffix='.conf') as f:
            f.write('[DEFAULT]\nservicegroup_driver = nova_ha\n')
            f.flush()
            run = subprocess.run([sys.executable, '-c', code, f.name],
                                 capture_output=True, text=True)
        self.assertNotEqual(0, run.returncode)
        self.assertIn("Valid values are", run.stderr)


class TestDriver(unittest.TestCase):

    def setUp(self):
        loader.install()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        overrides = [('servicegroup_driver', 'nova_ha', None),
                     ('backend_url', 'file://' + tmp.name, 'ha_servicegroup'),
                     ('poll_interval', 0.05, 'ha_servicegroup')]
        for name, value, group in overrides:
            CONF.set_override(name, value, group=group)
            self.addCleanup(CONF.clear_override, name, group=group)
        self.addCleanup(ha_driver.reset)
        self.api = servicegroup.API()
        self.driver = self.api._driver
        self.url = self.driver.url

    def beater(self, host):
        beater = heartbeat.Heartbeater(self.url, 'nova-ha.compute', host,
                                       0.5, self.driver.down_time)
        self.addCleanup(beater.stop)
        self.assertTrue(beater.beat())
        return beater

    def test_nova_api_builds_our_driver(self):
        self.assertIsInstance(self.driver, ha_driver.HAServiceGroupDriver)

    def test_membership_wins_over_a_stale_db_heartbeat(self):
        self.beater('h1')
        ref = service_ref('h1', seen_ago_s=600)
        wait_for(lambda: self.api.service_is_up(ref))

    def test_lost_member_is_down_although_db_says_up(self):
        beater = self.beater('h1')
        ref = service_ref('h1', seen_ago_s=1)
        self.api.service_is_up(ref)
        view = ha_driver.shared_watcher(self.url, 'nova-ha.compute', 0, 0)
        wait_for(lambda: view.state('h1') == 'up')
        beater.stop()  # leaves the group
        wait_for(lambda: not self.api.service_is_up(ref))

    def test_unknown_host_is_judged_by_nova_db_rule(self):
        self.assertTrue(self.api.service_is_up(service_ref('x', 1)))
        self.assertFalse(self.api.service_is_up(service_ref('x', 600)))

    def test_other_topics_keep_db_semantics(self):
        self.beater('h1')
        ref = service_ref('h1', seen_ago_s=600, topic='conductor')
        self.assertFalse(self.api.service_is_up(ref))

    def test_forced_down_still_wins(self):
        self.beater('h1')
        ref = dict(service_ref('h1', 1), forced_down=True)
        self.assertFalse(self.api.service_is_up(ref))

    def test_updated_time_shows_the_fresher_heartbeat(self):
        self.beater('h1')
        ref = service_ref('h1', seen_ago_s=600)
        wait_for(lambda: self.api.service_is_up(ref))
        updated = self.api.get_updated_time(ref)
        age = (datetime.datetime.now(datetime.timezone.utc) - updated)
        self.assertLess(age.total_seconds(), 5)
