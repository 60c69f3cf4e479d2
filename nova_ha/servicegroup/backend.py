"""Which tooz backend holds the membership, and how its URL is completed.

The liveness timing lives in our options (down_time), but each tooz driver
expires members through its own URL parameter; ``timed_url`` writes ours
into the URL unless the operator set the parameter explicitly.  Pure
functions, plus ``connect`` which is the only place a coordinator is built.
"""

import math
import os
import tempfile
from urllib import parse

from oslo_config import cfg
from oslo_log import log as logging
from tooz import coordination

LOG = logging.getLogger(__name__)

GROUP_PREFIX = 'nova-ha.'


def group_for_topic(topic):
    """The tooz group holding the live members of a Nova service topic."""
    return GROUP_PREFIX + topic


def redact(url):
    """The URL with any password replaced, safe for logs and reprs."""
    if not url:
        return url
    try:
        parts = parse.urlsplit(url)
    except ValueError:
        return '<unparseable url>'
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit('@', 1)[1]
    user = parts.username or ''
    netloc = '%s:***@%s' % (user, netloc)
    return parse.urlunsplit(parts._replace(netloc=netloc))


def _timing_params(scheme, down_time, heartbeat_interval):
    """URL parameters that make a tooz driver expire a silent member."""
    # Client calls must give up well before a member would expire, so that
    # a hung backend is noticed (and the DB fallback used) in time.
    io_timeout = max(0.2, min(1.0, down_time / 2.0))
    whole = str(max(1, int(math.ceil(down_time))))
    if scheme == 'redis':
        return {'membership_timeout': repr(float(down_time)),
                'socket_timeout': repr(io_timeout),
                'socket_connect_timeout': repr(io_timeout)}
    if scheme == 'file':
        return {'timeout': whole}
    if scheme.startswith('etcd3'):
        return {'membership_timeout': whole, 'timeout': whole}
    if scheme in ('zookeeper', 'kazoo'):
        return {'timeout': whole}
    return {}


def timed_url(url, down_time, heartbeat_interval):
    """``url`` completed with the expiry parameters for ``down_time``.

    Parameters already present in the URL are kept: an operator's explicit
    choice wins.
    """
    parts = parse.urlsplit(url)
    query = dict(parse.parse_qsl(parts.query, keep_blank_values=True))
    for key, value in _timing_params(parts.scheme, down_time,
                                     heartbeat_interval).items():
        query.setdefault(key, value)
    return parse.urlunsplit(parts._replace(query=parse.urlencode(query)))


def embedded_url(path):
    """The embedded backend: tooz's file driver (members expire by mtime)."""
    return 'file://' + os.path.abspath(path)


def base_url(conf):
    """The backend URL of the configuration; the embedded one when unset."""
    group = conf.ha_servicegroup
    if group.backend_url:
        return group.backend_url
    try:
        path = group.embedded_path
    except cfg.TemplateSubstitutionError:
        # Outside Nova ($state_path is a Nova option).
        path = os.path.join(tempfile.gettempdir(), 'nova-ha-liveness')
    return embedded_url(path)


def configured_url(conf):
    """The backend URL of the configuration, completed with the timing.

    What the engine passes to HostLivenessWatcher so that it reads the
    membership the Nova services write.
    """
    group = conf.ha_servicegroup
    return timed_url(base_url(conf), group.down_time,
                     group.heartbeat_interval)


def connect(url, member_id):
    """A started tooz coordinator (no heart thread: callers beat)."""
    coordinator = coordination.get_coordinator(url, member_id.encode())
    coordinator.start(start_heart=False)
    one_try_per_command(coordinator)
    return coordinator


def one_try_per_command(coordinator):
    """redis-py (6 and later) retries a command that timed out three
    times, with back-off: a cut link to Redis then takes some 25 s to
    fail, not the URL's socket_timeout, and holds the caller far longer
    than a lease or a heartbeat lives.  The callers try again on their own, so
    every command gets one try, and so does a heartbeat.  Call it once
    the coordinator has started (tooz creates the client then, and does
    not pass a retry policy through); other backends have nothing to
    set."""
    client = getattr(coordinator, '_client', None)
    set_retry = getattr(client, 'set_retry', None)
    if set_retry is None:
        return
    from redis import backoff
    from redis import retry
    set_retry(retry.Retry(backoff.NoBackoff(), 0))


def ensure_group(coordinator, group):
    try:
        coordinator.create_group(group.encode()).get()
    except coordination.GroupAlreadyExist:
        pass
