"""The committed sample config must match the registered options."""

import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
GENERATOR_CONF = os.path.join(ROOT, 'etc', 'nova-ha',
                              'nova-ha-config-generator.conf')
SAMPLE = os.path.join(ROOT, 'etc', 'nova-ha', 'nova-ha.conf.sample')


class TestSampleConfig(unittest.TestCase):

    def test_sample_is_current(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, 'sample.conf')
            subprocess.run(
                [sys.executable, '-m', 'oslo_config.generator',
                 '--config-file', GENERATOR_CONF, '--output-file', out],
                check=True, cwd=ROOT)
            with open(out) as f:
                generated = f.read()
        with open(SAMPLE) as f:
            committed = f.read()
        self.assertEqual(
            committed, generated,
            'etc/nova-ha/nova-ha.conf.sample is stale: regenerate it with '
            'oslo-config-generator --config-file '
            'etc/nova-ha/nova-ha-config-generator.conf')

    def test_every_option_has_help(self):
        from nova_ha.conf import opts
        for group, options in opts.list_opts():
            for opt in options:
                self.assertTrue(opt.help, '%s.%s has no help' % (
                    group.name, opt.name))


class TestSchedulerSnippet(unittest.TestCase):
    """The nova.conf lines the README gives operators are the ones the
    functional tests run with."""

    def test_snippet_matches_the_tested_configuration(self):
        from nova.conf import scheduler as nova_scheduler_conf
        from oslo_config import cfg

        from nova_ha_testbed import cloud

        conf = cfg.ConfigOpts()
        nova_scheduler_conf.register_opts(conf)
        conf(['--config-file', os.path.join(
            ROOT, 'etc', 'nova-ha', 'nova-scheduler.conf.sample')],
            project='nova', default_config_files=[], default_config_dirs=[])
        fs = conf.filter_scheduler
        self.assertEqual(['nova.scheduler.filters.all_filters',
                          'nova_ha.scheduler.filters.all_filters'],
                         fs.available_filters)
        self.assertEqual(cloud.NOVA_FILTERS + cloud.HA_FILTERS,
                         fs.enabled_filters)
        self.assertEqual(['nova.scheduler.weights.all_weighers',
                          cloud.HA_WEIGHER], fs.weight_classes)


def test_every_option_resolves_inside_nova():
    # The plugins register every nova-ha option in Nova's own CONF; an
    # option whose default refers to itself ($state_path in a group of
    # its own that has a state_path) stopped nova-api from starting.
    from oslo_config import cfg

    from nova_ha.conf import opts
    conf = cfg.ConfigOpts()
    conf.register_opt(cfg.StrOpt('state_path', default='/var/lib/nova'))
    for group, options in opts.list_opts():
        conf.register_opts(options, group=group)
    conf([], project='nova')
    for group, options in opts.list_opts():
        name = getattr(group, 'name', group)
        for option in options:
            getattr(conf[name], option.dest)
