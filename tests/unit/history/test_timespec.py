"""Times as operators type them on the CLI."""

import datetime
import unittest

from nova_ha.history import timespec

UTC = datetime.timezone.utc
NOW = datetime.datetime(2025, 5, 1, 12, 0, tzinfo=UTC)


class TestParseTime(unittest.TestCase):

    def test_ages(self):
        for text, delta in (('90s', dict(seconds=90)), ('30m', dict(
                minutes=30)), ('2h', dict(hours=2)), ('7d', dict(days=7)),
                ('1w', dict(weeks=1)), (' 2H ', dict(hours=2))):
            self.assertEqual(NOW - datetime.timedelta(**delta),
                             timespec.parse_time(text, NOW), text)

    def test_iso_times(self):
        self.assertEqual(datetime.datetime(2025, 4, 30, 8, 0, tzinfo=UTC),
                         timespec.parse_time('2025-04-30T08:00:00Z', NOW))
        self.assertEqual(datetime.datetime(2025, 4, 30, 8, 0, tzinfo=UTC),
                         timespec.parse_time('2025-04-30T10:00:00+02:00',
                                             NOW))
        self.assertEqual(datetime.datetime(2025, 4, 30, tzinfo=UTC),
                         timespec.parse_time('2025-04-30', NOW))
        self.assertEqual(NOW, timespec.parse_time('now', NOW))

    def test_garbage_says_what_is_expected(self):
        for text in ('yesterday', '2h30', '-2h', ''):
            with self.assertRaisesRegex(ValueError, 'ISO 8601'):
                timespec.parse_time(text, NOW)
