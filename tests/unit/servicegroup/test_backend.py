"""Backend URLs: the down time reaches each tooz driver, secrets never logs."""

import unittest
from urllib import parse

from nova_ha.servicegroup import backend


def query(url):
    return dict(parse.parse_qsl(parse.urlsplit(url).query))


class TestTimedUrl(unittest.TestCase):

    def test_redis_expires_members_after_down_time(self):
        q = query(backend.timed_url('redis://127.0.0.1:6379', 2.0, 0.5))
        self.assertEqual('2.0', q['membership_timeout'])
        # A hung backend must be noticed before members would expire.
        self.assertLess(float(q['socket_timeout']), 2.0)

    def test_file_driver_takes_whole_seconds(self):
        q = query(backend.timed_url('file:///tmp/x', 2.5, 0.5))
        self.assertEqual('3', q['timeout'])

    def test_operator_parameters_win(self):
        url = backend.timed_url(
            'redis://127.0.0.1:6379?membership_timeout=9', 2.0, 0.5)
        self.assertEqual('9', query(url)['membership_timeout'])

    def test_etcd_and_zookeeper_get_their_timeouts(self):
        self.assertEqual('2', query(backend.timed_url(
            'etcd3+http://127.0.0.1:2379', 2.0, 0.5))['membership_timeout'])
        self.assertEqual('4', query(backend.timed_url(
            'zookeeper://127.0.0.1:2181', 4.0, 0.5))['timeout'])


class TestRedact(unittest.TestCase):

    def test_password_is_hidden(self):
        url = 'redis://:s3cret@10.0.0.5:6379?membership_timeout=2.0'
        self.assertNotIn('s3cret', backend.redact(url))
        self.assertIn('10.0.0.5:6379', backend.redact(url))
        self.assertNotIn('s3cret', backend.redact(
            backend.timed_url(url, 2.0, 0.5)))

    def test_url_without_password_is_unchanged(self):
        self.assertEqual('file:///tmp/x', backend.redact('file:///tmp/x'))

    def test_watcher_repr_hides_password(self):
        from nova_ha.servicegroup import watcher
        w = watcher.HostLivenessWatcher('redis://u:s3cret@127.0.0.1:1', 'g')
        self.assertNotIn('s3cret', repr(w))
