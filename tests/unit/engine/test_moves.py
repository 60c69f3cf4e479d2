"""A VM's verdict from Nova's records (server and migrations)."""

import pytest

from nova_ha.engine import model
from nova_ha.engine import moves

HOST = 'c1'


def _server(host=HOST, status='ACTIVE', task=None):
    return model.Server('vm', 'vm', host, status, task)


def _mig(status, type_='evacuation', created=10.0, source=HOST, dest=None):
    return model.Migration('m-%s' % status, 'vm', type_, status, source,
                           dest, created)


@pytest.mark.parametrize('server,migrations,verdict', [
    (None, (), 'unknown'),
    (_server(), None, 'unknown'),
    (_server(status='DELETED'), (), 'gone'),
    (_server(), (), 'ready'),
    # Nova writes the migration before answering: a move begun by any
    # engine shows here, while the server still names the failed host.
    (_server(task='rebuilding'), (_mig('accepted'),), 'in_flight'),
    (_server(task='rebuilding'), (_mig('pre-migrating'),), 'in_flight'),
    (_server(task='migrating'), (_mig('running', 'live-migration'),),
     'foreign'),
    # A task state with nothing in flight died with the host: reset it.
    (_server(task='powering-off'), (), 'stale_task'),
    (_server(task='rebuilding'), (_mig('error'),), 'stale_task'),
    # No valid host: no destination was chosen, another try is safe.
    (_server(), (_mig('error'),), 'failed_try'),
    # Failed on its destination: the guest may run there.
    (_server(status='ERROR'), (_mig('failed', dest='c2'),), 'failed_on'),
    (_server(), (_mig('error', created=1.0),), 'ready'),   # before us
    (_server('c2'), (_mig('done', dest='c2'),), 'moved'),
    (_server('c2', task='powering-on'), (_mig('done'),), 'in_flight'),
])
def test_judge(server, migrations, verdict):
    assert moves.judge(server, migrations, HOST, since=5.0) == verdict


def test_tries_count_only_this_recovery():
    migrations = (_mig('error', created=1.0), _mig('error'), _mig('done'),
                  _mig('done', source='c9'))
    assert moves.tries(migrations, HOST, since=5.0) == 2


def test_a_move_to_a_host_proven_off_since_is_stranded():
    stuck = model.Migration('m1', 'vm', 'evacuation', 'pre-migrating', HOST,
                            'c3', 10.0)
    server = _server(task='rebuilding')
    assert moves.judge(server, (stuck,), HOST, 5.0) == 'in_flight'
    # c3 was powered off at 12, after the move began: the move cannot end
    # while it is off, and may end there if it comes back.
    assert moves.judge(server, (stuck,), HOST, 5.0, {'c3': 12.0}) == \
        'stranded'
    # Proven off before the move began: an older proof says nothing.
    assert moves.judge(server, (stuck,), HOST, 5.0, {'c3': 8.0}) == \
        'in_flight'
