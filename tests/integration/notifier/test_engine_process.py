"""The installed nova-ha-engine, in its own process, recovers a dead host.

Everything the engine touches is real and reached as in production:
- Nova's REST API over HTTP on a loopback port.  This is the in-process
  cloud of Nova's functional framework, served by
  nova_ha_testbed.engine_process.
- RabbitMQ (127.0.0.1:5672) for the monitor's event and for Nova's
  versioned notifications, which go through the nova_ha_forward driver.
- pyghmi's fakebmc over IPMI (ipmitool, cipher suite 3) for fencing.
- A SQLite history file, read here as the CLI would read it.
- Signed monitor events, as the engine requires by default: each host has
  a key of its own, and its monitor signs what it publishes.

Stand-in: keystone (see engine_process).
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import configparser
import json
import tempfile

from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.notifier import events
from nova_ha.notifier import listener
from nova_ha.notifier import signing

from nova_ha_testbed import engine_process
from tests.integration.fencing import peers
from tests.integration import services


class TestEngineProcess(cloud.HACloudTestCase):

    TOPOLOGY = (cloud.SegmentSpec('seg-a', ['a1', 'a2'], ['a-spare']),)
    UNSEGMENTED_HOSTS = ()

    def setUp(self):
        services.require('RabbitMQ', services.RABBITMQ)
        super().setUp()
        self.workdir = tempfile.mkdtemp(prefix='nova-ha-engine-process-')
        self.bmc = peers.FakeBMC(self.workdir)
        self.addCleanup(self.bmc.stop)
        self.bmc.power('on')
        self.engine_process = engine_process.deploy(
            self, services.RABBIT_URL, workdir=self.workdir,
            fencing={'a1': {
                'driver': 'ipmi', 'address': '127.0.0.1',
                'port': self.bmc.port, 'username': peers.FAKEBMC_USER,
                'password': peers.FAKEBMC_PASSWORD,
                'interface': 'ipmitool', 'cipher_suite': 3}})

    def test_start_up_checks_fencing_and_nova(self):
        # What an operator reads in the log as the engine starts.
        log = self.engine_process.log()
        self.assertIn('fencing configured for 1 host(s): a1 (ipmi)', log)
        self.assertIn('Nova reachable: %d compute service(s)' % len(
            self.admin_api.get_services(binary='nova-compute')), log)
        self.assertNotIn(peers.FAKEBMC_PASSWORD, log)
        for key in self.event_keys().values():
            self.assertNotIn(key, log)

    def event_keys(self):
        """The hosts' event keys, as the engine's configuration has them."""
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(self.engine_process.config_file)
        return dict(pair.split(':', 1) for pair in
                    conf['event_signing']['host_keys'].split(','))

    def test_only_events_signed_by_their_hosts_monitor_are_taken(self):
        keys = self.event_keys()
        self.assertEqual(sorted(self.all_hosts()), sorted(keys))
        self.assertEqual(len(keys), len(set(keys.values())))
        transport = messaging.get_notification_transport(
            cfg.CONF, url=services.RABBIT_URL)
        self.addCleanup(transport.cleanup)

        def send(publisher_host, payload):
            listener.monitor_notifier(
                transport, self.engine_process.monitor_topic,
                signing.monitor_publisher_id(publisher_host)).info(
                    {}, events.HOST_DOWN, payload)

        down = events.monitor_payload(events.HOST_DOWN, 'a1', source='x')
        send('a1', down)                                  # unsigned
        send('a1', signing.sign(events.HOST_DOWN, down, keys['a2']))
        send('a2', signing.sign(events.HOST_DOWN, down, keys['a1']))
        # Then a1's own monitor, through the harness.
        self.engine_process.publish(events.HOST_UP, 'a1', source='test')

        history = self.engine_process.history
        self.wait_for(lambda: len(history.query(kind='event')) >= 4,
                      timeout=30, what='four events taken or refused')
        reasons = sorted(r.message for r in
                         history.query(kind='event.rejected'))
        self.assertEqual(sorted([
            'rejected host.down: unsigned event',
            'rejected host.down: bad signature',
            'rejected host.down: event about host a1 published by '
            'nova-ha-monitor.a2']), reasons)
        self.assertEqual(['host.up on a1'], [
            r.message for r in history.query(kind='event.received')])
        self.assertEqual([], history.list_incidents(host='a1'))
        log = self.engine_process.log()
        for key in keys.values():
            self.assertNotIn(key, log)

    def test_dead_host_is_fenced_and_its_ha_vms_run_elsewhere(self):
        flavor = self._create_flavor(name='small', memory_mb=512, vcpu=1,
                                     disk=1, ephemeral=0)
        important = self.boot_server('important', priority=10, host='a1',
                                     flavor_id=flavor)
        other = self.boot_server('other', priority=1, host='a1',
                                 flavor_id=flavor)
        plain = self.boot_server('plain', ha=False, host='a1',
                                 flavor_id=flavor)

        self.computes['a1'].stop()          # the hypervisor dies
        self.engine_process.publish(events.HOST_DOWN, 'a1', source='test')

        incidents = self.engine_process.wait_recovered('a1', timeout=240)
        self.assertEqual(['recovered'], [i.state for i in incidents],
                         self.engine_process.log()[-3000:])
        self.assertEqual('off', self.bmc.power('status'))
        for server in (important, other):
            moved = self.admin_api.get_server(server['id'])
            self.assertEqual('ACTIVE', moved['status'])
            self.assertEqual('a-spare', moved['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('a1', self.host_of(plain))
        service = self.admin_api.get_services(host='a1',
                                              binary='nova-compute')[0]
        self.assertTrue(service['forced_down'])
        self.assertEqual('disabled', service['status'])

        history = self.engine_process.history.query()
        fences = [r for r in history if r.kind == 'fence']
        self.assertEqual(['fenced'], [r.outcome for r in fences])
        plans = [r.message for r in history if r.kind == 'decision' and
                 r.message.startswith('plan for a1')]
        self.assertEqual(1, len(plans))
        self.assertIn('important(10), other(1)', plans[0])
        moves = [r for r in history if r.kind == 'evacuate' and
                 r.outcome == 'done']
        self.assertEqual({important['id'], other['id']},
                         {r.instance for r in moves})
        dump = json.dumps([r.to_dict() for r in history], default=str)
        for text in (dump, self.engine_process.log()):
            self.assertNotIn(peers.FAKEBMC_PASSWORD, text)
