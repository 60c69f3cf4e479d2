"""The nova-ha servicegroup driver inside the in-process Nova cloud.

Enabled exactly as an operator does it: the ``nova_ha_loader`` notify
driver is loaded through oslo.messaging's entry points (what nova.rpc.init
does in every service), then ``servicegroup_driver = nova_ha``.  The
backend is the embedded one (tooz file driver), so no server is needed.
With Nova's DB driver a stopped compute reads "down" only after 60 s
(service_down_time): every assertion below is out of its reach.
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import tempfile
import time

import oslo_messaging

import nova.conf

from nova_ha.servicegroup import driver as ha_driver

CONF = nova.conf.CONF
DOWN_TIME = 2.0
POLL = 0.1


class FastDetectionTestCase(cloud.HACloudTestCase):

    TOPOLOGY = (cloud.SegmentSpec('seg-a', ['a1', 'a2'], ['a-spare']),)
    UNSEGMENTED_HOSTS = ()

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.addCleanup(ha_driver.reset)
        # Registers [oslo_messaging_notifications], as nova.rpc.init does.
        transport = oslo_messaging.get_notification_transport(
            CONF, url='fake:/')
        self.flags(driver=['nova_ha_loader'],
                   group='oslo_messaging_notifications')
        oslo_messaging.Notifier(transport)  # loads our entry point
        self.flags(servicegroup_driver='nova_ha')
        self.flags(backend_url='file://' + tmp.name, down_time=DOWN_TIME,
                   poll_interval=POLL, group='ha_servicegroup')
        super().setUp()
        self.small = self._create_flavor(
            name='small', memory_mb=512, vcpu=1, disk=1, ephemeral=0)

    def service(self, host):
        return self.admin_api.get_services(host=host,
                                           binary='nova-compute')[0]

    def wait_state(self, host, state, timeout):
        self.wait_for(lambda: self.service(host)['state'] == state,
                      timeout=timeout, what='%s %s' % (host, state))

    def test_stopped_compute_is_down_fast_unschedulable_then_back(self):
        self.wait_state('a1', 'up', 10)
        stopped = time.monotonic()
        self.computes['a1'].stop()
        self.wait_state('a1', 'down', DOWN_TIME + 10)
        detection = time.monotonic() - stopped
        # Configured detection time: down_time plus one poll, plus the
        # os-services call itself.
        self.assertLessEqual(detection, DOWN_TIME + POLL + 1.0)
        # Nova's DB heartbeat is still fresh: the answer is ours.
        self.assertTrue(ha_driver.HAServiceGroupDriver()._db.is_up(
            self.service_ref('a1')))

        # The scheduler (ComputeFilter) no longer chooses it.
        server = self.boot_server('pinned', host='a1', flavor_id=self.small,
                                  expected_state='ERROR')
        self.assertIn('No valid host', self.admin_api.get_server(
            server['id'])['fault']['message'])

        self.computes['a1'] = self.restart_compute_service(
            self.computes['a1'])
        self.wait_state('a1', 'up', DOWN_TIME + 10)
        server = self.boot_server('pinned-again', host='a1',
                                  flavor_id=self.small)
        self.assertEqual('a1', self.host_of(server))

    def service_ref(self, host):
        from nova import context
        from nova import objects
        return objects.Service.get_by_compute_host(
            context.get_admin_context(), host)
