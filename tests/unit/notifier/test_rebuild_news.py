import datetime
import threading
import time
import unittest

from nova_ha.notifier import events
from nova_ha.notifier import rebuild_news

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc)


def news(instance, kind=events.REBUILD_END, host='spare-1'):
    return events.Event(kind, host, NOW, source='nova', instance=instance,
                        state='active')


class TestRebuildNews(unittest.TestCase):

    def setUp(self):
        self.board = rebuild_news.RebuildNews(capacity=3)

    def test_take_returns_the_latest_news_of_the_asked_vms_once(self):
        self.board.report(news('vm-1', events.REBUILD_START))
        self.board.report(news('vm-1'))
        self.board.report(news('vm-2'))
        taken = self.board.take(['vm-1', 'vm-3'])
        self.assertEqual({'vm-1'}, set(taken))
        self.assertEqual(events.REBUILD_END, taken['vm-1'].type)
        self.assertEqual({}, self.board.take(['vm-1']))
        self.assertEqual({'vm-2'}, set(self.board.take(['vm-2'])))

    def test_news_nobody_takes_age_out(self):
        for i in range(5):
            self.board.report(news('vm-%d' % i))
        self.assertEqual({'vm-2', 'vm-3', 'vm-4'},
                         set(self.board.take(['vm-%d' % i
                                              for i in range(5)])))

    def test_wait_returns_at_once_for_news_already_there(self):
        self.board.report(news('vm-1'))
        self.assertTrue(self.board.wait(['vm-1'], timeout=5))

    def test_wait_ignores_news_about_other_vms(self):
        self.board.report(news('vm-other'))
        self.assertFalse(self.board.wait(['vm-1'], timeout=0.05))

    def test_news_wakes_a_waiting_recovery(self):
        woke = []
        waiter = threading.Thread(target=lambda: woke.append(
            self.board.wait(['vm-1'], timeout=30)))
        waiter.start()
        time.sleep(0.05)
        started = time.monotonic()
        self.board.report(news('vm-1'))
        waiter.join(5)
        self.assertEqual([True], woke)
        self.assertLess(time.monotonic() - started, 5)
