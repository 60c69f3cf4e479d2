"""[event_signing] as operators read it: on by default, and turning it off
is spelled out as the trade it is."""

import unittest

from oslo_config import cfg

from nova_ha.conf import signing as signing_conf


def _opt(name):
    (opt,) = [o for o in signing_conf.OPTS if o.name == name]
    return opt


class TestEventSigningOptions(unittest.TestCase):

    def test_signatures_are_required_by_default(self):
        conf = cfg.ConfigOpts()
        signing_conf.register_opts(conf)
        conf([], default_config_files=[], default_config_dirs=[])
        self.assertTrue(conf.event_signing.required)

    def test_the_help_says_what_turning_it_off_gives_away(self):
        text = _opt('required').help.lower()
        for words in ('attacker', 'fence', 'trade'):
            self.assertIn(words, text)

    def test_keys_are_secret(self):
        self.assertTrue(_opt('host_keys').secret)
