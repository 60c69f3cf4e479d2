"""Keep secrets out of the history.

The history is read by operators (``nova-ha history``) and kept for a long
time, while what the engine records comes from many places: fence driver
parameters, Nova API errors, command lines.  So everything is scrubbed on the
way in, whatever the caller remembered to remove: a key that looks like a
secret loses its value, and text loses the obvious ``password=...`` shapes.

Pure functions, no I/O.
"""

import datetime
import re

from oslo_utils import strutils

MASK = '***'

#: A mapping key whose value is never stored.
SECRET_KEY = re.compile(r'password|passwd|secret|token|credential|auth',
                        re.IGNORECASE)

_KEY_WORD = (r'[\w.-]*(?:password|passwd|secret|token|credential|auth)'
             r'[\w.-]*')

# key=value, key: value, "key": "value" (quoted or bare values).
_KEY_VALUE = re.compile(
    r'(?P<key>' + _KEY_WORD + r')(?P<sep>["\']?\s*[=:]\s*)'
    r'(?P<value>"[^"]*"|\'[^\']*\'|[^\s,;&"\'}\]]+)',
    re.IGNORECASE)

# Command-line flags: --password VALUE, --os-auth-token VALUE, -P VALUE
# (ipmitool).
_FLAG_VALUE = re.compile(
    r'(?P<flag>(?<!\S)(?:--' + _KEY_WORD + r'|-P))(?P<sep>\s+)'
    r'(?P<value>"[^"]*"|\'[^\']*\'|\S+)',
    re.IGNORECASE)

# scheme://user:password@host
_URL_USERINFO = re.compile(r'(?P<head>[a-z][\w+.-]*://[^:/@\s]*:)'
                           r'(?P<value>[^@/\s]+)(?P<at>@)', re.IGNORECASE)


def _masked_value(value):
    """Keep the quotes around a masked value, so the text still parses."""
    if value[:1] in ('"', "'") and value[-1:] == value[:1] and len(value) > 1:
        return value[0] + MASK + value[0]
    return MASK


def scrub_text(text):
    """``text`` with secret-looking values replaced by ``***``."""
    if not text:
        return text
    text = strutils.mask_password(text, secret=MASK)
    text = _KEY_VALUE.sub(
        lambda m: m.group('key') + m.group('sep') + _masked_value(
            m.group('value')), text)
    text = _FLAG_VALUE.sub(
        lambda m: m.group('flag') + m.group('sep') + _masked_value(
            m.group('value')), text)
    return _URL_USERINFO.sub(
        lambda m: m.group('head') + MASK + m.group('at'), text)


def scrub_detail(value):
    """A JSON-ready copy of ``value`` without secrets.

    Mapping keys matching :data:`SECRET_KEY` get ``***`` whatever their value
    (a nested dict of credentials included); strings are scrubbed with
    :func:`scrub_text`; tuples and sets become lists; datetimes become ISO
    text; anything else that JSON cannot hold becomes its scrubbed ``str``.
    """
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            key = str(key)
            result[key] = (MASK if SECRET_KEY.search(key)
                           else scrub_detail(item))
        return result
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(
            value, (set, frozenset)) else value
        return [scrub_detail(item) for item in items]
    if isinstance(value, str):
        return scrub_text(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    return scrub_text(str(value))
