import unittest

from nova_ha.model import servers


class TestServerPolicy(unittest.TestCase):

    def test_untagged_is_not_ha(self):
        self.assertEqual(servers.ServerHAPolicy(), servers.server_policy({}))
        self.assertFalse(servers.server_policy(None).enabled)

    def test_tag_and_priority(self):
        p = servers.server_policy({'ha:enabled': 'true', 'ha:priority': '7'})
        self.assertEqual((True, 7, ()), (p.enabled, p.priority, p.problems))

    def test_masakari_key_is_honoured(self):
        self.assertTrue(servers.server_policy({'HA_Enabled': 'True'}).enabled)

    def test_our_key_wins_over_masakari_key(self):
        p = servers.server_policy({'HA_Enabled': 'true',
                                   'ha:enabled': 'false'})
        self.assertFalse(p.enabled)

    def test_evacuate_all_unless_opted_out(self):
        self.assertTrue(servers.server_policy({}, evacuate_all=True).enabled)
        self.assertFalse(servers.server_policy(
            {'ha:enabled': 'no'}, evacuate_all=True).enabled)

    def test_malformed_values_are_reported(self):
        p = servers.server_policy({'ha:enabled': 'si', 'ha:priority': 'high'})
        self.assertTrue(p.enabled)
        self.assertEqual(0, p.priority)
        self.assertEqual(2, len(p.problems))
