"""Engine replicas as deployed, and the owner of a recovery killed in it.

Real parts: two nova-ha-engine processes (the installed console script)
sharing Redis (tooz leases, lock_timeout 5 s), RabbitMQ (each message
reaches one of them) and the history on PostgreSQL; Nova's API over HTTP
(the in-process cloud, see nova_ha_testbed.engine_process); fencing
through the IPMI driver against pyghmi's fakebmc; monitor events signed
with each host's key.  Stand-in: keystone.

The verdict comes from the system's own records: Nova's migrations (one
evacuation per VM) and servers, and the history (fence proof before any
request, every record under its owner's token, the incident closed by
the survivor).
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import configparser
import datetime
import tempfile
import uuid

from nova_ha.notifier import events

from nova_ha_testbed import engine_process
from tests.integration.fencing import peers
from tests.integration.history import backends
from tests.integration import services


class TestOwnerKilledMidRecovery(cloud.HACloudTestCase):

    TOPOLOGY = (cloud.SegmentSpec('seg-a', ['a1', 'a2'], ['a-spare']),)
    UNSEGMENTED_HOSTS = ()
    VMS = 6

    def setUp(self):
        services.require('RabbitMQ', services.RABBITMQ)
        services.require_redis()
        super().setUp()
        database = backends.ThrowawayDatabase(
            backends.POSTGRESQL_ADMIN_URL)
        history_url = database.create()
        self.addCleanup(database.drop)
        self.workdir = tempfile.mkdtemp(prefix='nova-ha-replicas-')
        self.bmc = peers.FakeBMC(self.workdir)
        self.addCleanup(self.bmc.stop)
        self.bmc.power('on')
        shared = engine_process.Shared.fresh(
            self.workdir,
            coordination_url='redis://127.0.0.1:6379?lock_timeout=5&'
                             'namespace=nova-ha-test-%s' % uuid.uuid4().hex,
            history_url=history_url)
        self.engines = engine_process.deploy_replicas(
            self, services.RABBIT_URL, 2, shared,
            fencing={'a1': {
                'driver': 'ipmi', 'address': '127.0.0.1',
                'port': self.bmc.port, 'username': peers.FAKEBMC_USER,
                'password': peers.FAKEBMC_PASSWORD,
                'interface': 'ipmitool', 'cipher_suite': 3}},
            engine_options={'reconcile_interval': 2})
        self.history = self.engines[0].history

    def evacuations(self):
        return [m for m in self.admin_api.get_migrations()
                if m['migration_type'] == 'evacuation']

    def test_survivor_finishes_and_nothing_is_done_twice(self):
        flavor = self._create_flavor(name='small', memory_mb=256, vcpu=1,
                                     disk=1, ephemeral=0)
        vms = [self.boot_server('vm%d' % n, priority=n, host='a1',
                                flavor_id=flavor) for n in range(self.VMS)]
        self.computes['a1'].stop()      # the host loses its power
        self.bmc.power('off')
        self.engines[0].publish(events.HOST_DOWN, 'a1', source='test')

        # The owner dies once Nova shows its first evacuation.
        self.wait_for(self.evacuations, timeout=60, interval=0.05,
                      what='the first evacuation')
        (incident,) = self.history.list_incidents(host='a1')
        owner = next(e for e in self.engines
                     if incident.owner.endswith(':%d' % e.pid))
        killed_at = datetime.datetime.now(datetime.timezone.utc)
        owner.kill()
        survivor = next(e for e in self.engines if e is not owner)

        closed = survivor.wait_recovered('a1', timeout=120)
        self.assertEqual(['recovered'], [i.state for i in closed],
                         survivor.log()[-3000:])
        took_over = [r for r in self.history.query(kind='lease')
                     if 'took over' in r.message]
        self.assertEqual(1, len(took_over), survivor.log()[-3000:])
        takeover_s = (took_over[0].at - killed_at).total_seconds()

        # Nova's records: each VM evacuated exactly once, and running on
        # a host of its segment.
        counts = {}
        for m in self.evacuations():
            if m['status'] not in ('error', 'failed'):
                counts[m['instance_uuid']] = counts.get(
                    m['instance_uuid'], 0) + 1
        self.assertEqual({vm['id']: 1 for vm in vms}, counts)
        for vm in vms:
            got = self.admin_api.get_server(vm['id'])
            self.assertEqual('ACTIVE', got['status'])
            self.assertIn(got['OS-EXT-SRV-ATTR:host'], ('a2', 'a-spare'))

        # The history: no request before the fence proof, every record
        # under the token of the owner that wrote it, the survivor last.
        records = self.history.query(incident=incident.key)
        fenced = [r.at for r in records if r.kind == 'transition' and
                  '-> fenced' in r.message]
        self.assertEqual(1, len(fenced))
        requests = [r.at for r in records if r.kind == 'evacuate' and
                    r.outcome == 'requested']
        self.assertTrue(requests)
        self.assertLessEqual(fenced[0], min(requests))
        self.assertTrue(all(r.token in (1, 2) for r in records), records)
        tokens = [r.token for r in records]
        self.assertEqual(sorted(tokens), tokens)    # 1 then 2, never back
        final = self.history.get_incident(incident.key)
        self.assertEqual((2, True), (final.generation,
                                     final.owner.endswith(
                                         ':%d' % survivor.pid)))
        # Takeover within the lease time (5 s) plus one reconcile
        # interval (2 s), with a second of slack for a loaded machine.
        self.assertLess(takeover_s, 8.0, survivor.log()[-3000:])
        before = [m for m in self.evacuations()
                  if m['created_at'] < killed_at.replace(
                      tzinfo=None).isoformat()]
        print('takeover %.2f s after the owner was killed; Nova had %d of '
              '%d evacuations then' % (takeover_s, len(before), self.VMS))


class TestSideEffectsFitTheLease(cloud.HACloudTestCase):
    """A deployment's Nova and BMC timeouts fit in its 5 s leases: the
    engine starts a side effect only with enough of its lease left and
    cuts it off when the lease would end, and says so at start when one
    may not fit."""

    TOPOLOGY = (cloud.SegmentSpec('seg-a', ['a1', 'a2'], ['a-spare']),)
    UNSEGMENTED_HOSTS = ()

    def setUp(self):
        services.require('RabbitMQ', services.RABBITMQ)
        services.require_redis()
        super().setUp()
        self.api_server = engine_process.NovaAPIServer(self)
        self.addCleanup(self.api_server.stop)

    def engine(self, **options):
        workdir = tempfile.mkdtemp(prefix='nova-ha-lease-fit-')
        shared = engine_process.Shared.fresh(
            workdir, coordination_url='redis://127.0.0.1:6379?'
            'lock_timeout=5&namespace=nova-ha-test-%s' % uuid.uuid4().hex)
        engine = engine_process.EngineProcess(
            self.api_server.endpoint, services.RABBIT_URL, workdir=workdir,
            shared=shared, fencing={'a1': {
                'driver': 'ipmi', 'address': '127.0.0.1', 'port': 9,
                'username': peers.FAKEBMC_USER,
                'password': peers.FAKEBMC_PASSWORD,
                'interface': 'ipmitool', 'cipher_suite': 3}}, **options)
        self.addCleanup(engine.stop)
        return engine

    def test_the_harness_timeouts_fit_and_longer_ones_fail_the_start(self):
        fits = self.engine().start()
        conf = configparser.ConfigParser(interpolation=None)
        conf.read(fits.config_file)
        self.assertEqual(3.0, float(conf['engine']['nova_api_timeout']))
        self.assertEqual((1.0, 1.0), (float(conf['fencing']['timeout']),
                                      float(conf['fencing']
                                            ['request_timeout'])))
        self.assertNotIn(engine_process.LEASE_TOO_SHORT, fits.log())
        fits.stop()

        # The shipped Nova timeout (30 s) and fence timeout (60 s) would
        # be cut by the lease: the engine says so, and the start fails.
        for options in ({'engine_options': {'nova_api_timeout': 30}},
                        {'fencing_options': {'timeout': 60}}):
            with self.assertRaises(RuntimeError) as raised:
                self.engine(**options).start()
            self.assertIn(engine_process.LEASE_TOO_SHORT,
                          str(raised.exception))
            self.assertIn('nova_api_timeout' if 'engine_options' in options
                          else 'the fence of a1', str(raised.exception))
