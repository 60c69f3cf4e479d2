"""Run the operator CLI against the in-process HA cloud.

``cli.main(argv, connection=...)`` is the console script's own entry with
the in-process cloud's openstacksdk connection injected (nova-api runs
behind wsgi-intercept, unreachable from another process).  Commands are
found through the installed ``nova_ha.cli`` entry points, as the console
script finds them.
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import contextlib
import io
import json
import os
import tempfile

from nova_ha.cmd import cli


class OperatorCLITestCase(cloud.HACloudTestCase):

    def setUp(self):
        super().setUp()
        self.small = self._create_flavor(
            name='small', memory_mb=512, vcpu=1, disk=1, ephemeral=0)
        tmp = tempfile.TemporaryDirectory(prefix='nova-ha-cli-')
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name
        self.config = os.path.join(self.tmp, 'nova-ha.conf')
        self.write_config(self.tmp)

    def write_config(self, state_dir):
        """nova-ha.conf with the history and locks under ``state_dir``."""
        with open(self.config, 'w') as f:
            f.write('[history]\nconnection = sqlite:///%s\n'
                    '[engine]\ncoordination_url = file://%s\n'
                    '[operator]\ndrain_poll_interval = 0.1\n' % (
                        os.path.join(state_dir, 'history.sqlite'),
                        os.path.join(state_dir, 'locks')))

    def run_cli(self, *args, stderr=None):
        """(exit status, stdout, stderr) of ``nova-ha --config-file ...
        ARGS``; ``stderr`` may be a stream of the test's own."""
        out, err = io.StringIO(), stderr or io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            try:
                rc = cli.main(['--config-file', self.config] + list(args),
                              connection=self.sdk_connection())
            except SystemExit as exc:    # argparse's usage errors
                rc = exc.code
        return rc, out.getvalue(), err.getvalue()

    def run_json(self, *args):
        rc, out, err = self.run_cli(*(args + ('-f', 'json')))
        self.assertEqual(0, rc, err)
        return json.loads(out)

    def server_metadata(self, server):
        return self.admin_api.get_server(server['id'])['metadata']

    def service(self, host):
        return self.admin_api.get_services(host=host,
                                           binary='nova-compute')[0]

    def aggregate_named(self, name):
        for aggregate in self.admin_api.api_get(
                '/os-aggregates').body['aggregates']:
            if aggregate['name'] == name:
                return aggregate
        return None
