"""Tagging VMs and setting segment policy end to end, under both CLIs.

``nova-ha ...`` runs through cli.main with the in-process cloud's
connection; ``openstack ha ...`` runs through python-openstackclient's own
OpenStackShell, whose Keystone authentication is the one part replaced:
the in-process nova-api trusts X-Auth-* headers instead of tokens and
Keystone does not exist here, so the shell is handed the in-process
openstacksdk connection where it would have built an authenticated one.
"""

from nova_ha_testbed import cloud  # noqa: F401,I100  (Nova's test mode)

import contextlib
import io
import json

from openstackclient import shell as osc_shell

from nova_ha.model import aggregates as ha_aggregates
from tests.functional.tagging import harness


class InProcessOpenStackShell(osc_shell.OpenStackShell):
    """The real ``openstack`` application, authenticated in-process."""

    def __init__(self, connection):
        super().__init__()
        self._connection = connection

    def prepare_to_run_command(self, cmd):
        self.client_manager.sdk_connection = self._connection


class TestTaggingAndSegmentPolicy(harness.OperatorCLITestCase):

    def segment_metadata(self, name):
        return self.admin_api.api_get('/os-aggregates/%s' % self.aggregates[
            name]).body['aggregate']['metadata']

    def test_tag_untag_and_segment_policy(self):
        web = self.boot_server('web', ha=False, host='a1',
                               flavor_id=self.small)

        shown = self.run_json('vm', 'tag', 'web', '--priority', '7')
        self.assertEqual((web['id'], 'a1', 'seg-a', True, 7), (
            shown['ID'], shown['Host'], shown['Segment'], shown['HA'],
            shown['Priority']))
        self.assertEqual({'ha:enabled': 'true', 'ha:priority': '7'},
                         self.server_metadata(web))

        # A Masakari tag too: untag removes every tag that makes it HA.
        self.admin_api.post_server_metadata(web['id'],
                                            {'HA_Enabled': 'True'})
        shown = self.run_json('vm', 'untag', web['id'])
        self.assertFalse(shown['HA'])
        self.assertEqual({}, self.server_metadata(web))

        policy = self.run_json('segment', 'set', 'seg-a', '--evacuate-all',
                               '--recovery-method', 'auto', '--disabled')
        self.assertEqual(('auto', False, True), (
            policy['Recovery method'], policy['Enabled'],
            policy['Evacuate all']))
        self.assertEqual({'ha:segment': 'seg-a', 'ha:evacuate_all': 'true',
                          'ha:recovery_method': 'auto',
                          'ha:enabled': 'false'},
                         self.segment_metadata('seg-a'))
        # Every VM of an evacuate-all segment is HA ...
        self.assertTrue(self.run_json('vm', 'show', 'web')['HA'])
        # ... so untagging opts the VM out explicitly.
        shown = self.run_json('vm', 'untag', 'web')
        self.assertFalse(shown['HA'])
        self.assertIn('ha:evacuate_all=true', shown['Note'])
        self.assertEqual({'ha:enabled': 'false'}, self.server_metadata(web))

        listed = self.run_json('segment', 'list')
        self.assertEqual([
            ('seg-a', 'auto', False, True, ['a-spare', 'a1', 'a2'],
             ['a-spare'], []),
            ('seg-b', 'rh_priority', True, False, ['b-spare', 'b1', 'b2'],
             ['b-spare'], [])],
            [(s['Name'], s['Recovery method'], s['Enabled'],
              s['Evacuate all'], s['Hosts'], s['Reserved hosts'],
              s['Maintenance hosts']) for s in listed])

    def test_unknown_names_are_refused_with_the_known_ones(self):
        before = self.segment_metadata('seg-b')
        rc, out, err = self.run_cli('segment', 'set', 'seg-x', '--enabled')
        self.assertEqual(1, rc)
        self.assertIn("no failover segment named 'seg-x'", err)
        self.assertIn('segments: seg-a, seg-b', err)
        rc, out, err = self.run_cli('vm', 'tag', 'nosuch')
        self.assertEqual(1, rc)
        self.assertIn("no server 'nosuch'", err)
        self.boot_server('twin', ha=False, host='a1', flavor_id=self.small)
        self.boot_server('twin', ha=False, host='a2', flavor_id=self.small)
        rc, out, err = self.run_cli('vm', 'tag', 'twin')
        self.assertEqual(1, rc)
        self.assertIn("more than one server is named 'twin'; give its ID",
                      err)
        self.assertEqual(before, self.segment_metadata('seg-b'))

    def test_openstack_client_runs_the_same_commands(self):
        self.boot_server('db', ha=False, host='b1', flavor_id=self.small)
        self.create_aggregate('ha-maintenance', ['b2'],
                              {ha_aggregates.MAINTENANCE_KEY: 'true'})

        def openstack(*argv):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), \
                    contextlib.redirect_stderr(io.StringIO()):
                app = InProcessOpenStackShell(self.sdk_connection())
                rc = app.run(list(argv))
            self.assertEqual(0, rc, out.getvalue())
            return json.loads(out.getvalue())

        self.assertEqual(self.run_json('segment', 'list'),
                         openstack('ha', 'segment', 'list', '-f', 'json'))
        self.assertEqual(['b2'], openstack(
            'ha', 'segment', 'show', 'seg-b', '-f', 'json')[
                'Maintenance hosts'])
        shown = openstack('ha', 'vm', 'tag', 'db', '--priority', '3',
                          '-f', 'json')
        self.assertEqual((True, 3), (shown['HA'], shown['Priority']))
        self.assertEqual({'ha:enabled': 'true', 'ha:priority': '3'},
                         self.admin_api.get_server(shown['ID'])['metadata'])
