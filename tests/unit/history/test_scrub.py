"""Secrets never reach the history: the scrubbing rules."""

import datetime
import unittest

from nova_ha.history import scrub


class TestScrubText(unittest.TestCase):

    def test_key_value_shapes(self):
        cases = {
            'password=foo bar': 'password=*** bar',
            'login passwd=abc ok': 'login passwd=*** ok',
            'auth_token: abc': 'auth_token: ***',
            '{"password": "x y"}': '{"password": "***"}',
            'credential=zz, next': 'credential=***, next',
            'a token=abc&x=1 b': 'a token=*** b',
            "secret='x y' tail": "secret='***' tail",
            'OS_PASSWORD=Pa55 nova list': 'OS_PASSWORD=*** nova list',
        }
        for text, expected in cases.items():
            self.assertEqual(expected, scrub.scrub_text(text), text)

    def test_command_line_flags_and_urls(self):
        self.assertEqual('ipmitool -I lanplus -U admin -P *** power off',
                         scrub.scrub_text(
                             'ipmitool -I lanplus -U admin -P pw power off'))
        self.assertEqual('x --os-password *** y',
                         scrub.scrub_text('x --os-password pw y'))
        self.assertEqual('db mysql+pymysql://nova:***@db/nova down',
                         scrub.scrub_text(
                             'db mysql+pymysql://nova:pw@db/nova down'))

    def test_plain_text_is_untouched(self):
        text = 'host c1 fenced: power is off (took 3.2 s)'
        self.assertEqual(text, scrub.scrub_text(text))
        self.assertEqual('', scrub.scrub_text(''))


class TestScrubDetail(unittest.TestCase):

    def test_nested_secret_keys_are_masked_whole(self):
        detail = {'bmc': {'address': '192.0.2.1', 'Password': 'p',
                          'auth': {'user': 'u'}},
                  'items': [{'api_token': 't'}, ('x', {'secret_id': 1})],
                  'count': 2, 'ok': True, 'none': None}
        self.assertEqual(
            {'bmc': {'address': '192.0.2.1', 'Password': '***',
                     'auth': '***'},
             'items': [{'api_token': '***'}, ['x', {'secret_id': '***'}]],
             'count': 2, 'ok': True, 'none': None},
            scrub.scrub_detail(detail))

    def test_values_become_json_ready(self):
        when = datetime.datetime(2025, 1, 2, 3, 4, 5,
                                 tzinfo=datetime.timezone.utc)
        self.assertEqual(
            {'at': '2025-01-02T03:04:05+00:00', 'ids': [1, 2],
             'obj': 'password=***', '3': 'int key'},
            scrub.scrub_detail({'at': when, 'ids': {2, 1},
                                'obj': _Weird(), 3: 'int key'}))

    def test_input_is_not_modified(self):
        detail = {'password': 'p'}
        scrub.scrub_detail(detail)
        self.assertEqual({'password': 'p'}, detail)


class _Weird:
    def __str__(self):
        return 'password=leak'
