"""Times as operators type them: ISO 8601 or an age like ``2h``.

Pure functions; ``now`` is a parameter so tests pin the clock.
"""

import datetime
import re

_AGE = re.compile(r'^\s*(\d+)\s*([smhdw])\s*$', re.IGNORECASE)
_UNITS = {'s': 'seconds', 'm': 'minutes', 'h': 'hours', 'd': 'days',
          'w': 'weeks'}

HELP = ('an ISO 8601 time (2025-05-01T10:00:00Z; no zone means UTC), '
        '"now", or an age such as 90s, 30m, 2h, 7d, 1w')


def parse_time(text, now):
    """The UTC instant ``text`` names; ``now`` is an aware datetime.

    Raises ValueError with a message meant for the operator.
    """
    value = (text or '').strip()
    if value.lower() == 'now':
        return now
    match = _AGE.match(value)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return now - datetime.timedelta(**{_UNITS[unit]: amount})
    try:
        instant = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError('%r is not a time: expected %s' % (
            text, HELP)) from None
    if instant.tzinfo is None:
        return instant.replace(tzinfo=datetime.timezone.utc)
    return instant.astimezone(datetime.timezone.utc)
