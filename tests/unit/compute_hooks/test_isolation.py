"""The isolation rule, and the response applied once per isolation."""

import pytest

from nova_ha.compute_hooks import isolation


@pytest.mark.parametrize('coordination, peers, gateway, has_gateway, isolated', [
    (95.0, None, None, False, False),     # the backend answered 5 s ago
    (None, 98.0, None, False, False),     # a peer answered
    (80.0, 85.0, 99.0, True, False),      # only the gateway answers
    (80.0, 85.0, 80.0, True, True),       # nothing for 10 s
    (80.0, None, None, False, True),      # no gateway configured
    (None, None, None, True, True),       # never heard anything
])
def test_is_isolated(coordination, peers, gateway, has_gateway, isolated):
    got, why = isolation.is_isolated(100.0, 10.0, coordination, peers,
                                     gateway, has_gateway)
    assert got is isolated, why


def test_the_response_runs_once_per_isolation(tmp_path):
    now = [1000.0]
    heard = {'coordination': 1000.0, 'peers': None}
    marker = tmp_path / 'calls'
    response = isolation.IsolationResponse(
        'power_off', 10.0, lambda: heard['coordination'],
        lambda: heard['peers'],
        guest_command='sh -c "echo $0 >> %s"' % marker,
        clock=lambda: now[0])
    assert response.tick() is False
    now[0] = 1009.0
    assert response.tick() is False          # not yet 10 s
    now[0] = 1011.0
    assert response.tick() is True
    now[0] = 1020.0
    assert response.tick() is True           # still isolated: not again
    assert marker.read_text().split() == ['power_off']
    heard['coordination'] = 1020.0           # back in touch
    assert response.tick() is False
    now[0] = 1031.0
    assert response.tick() is True           # a new isolation
    assert marker.read_text().split() == ['power_off', 'power_off']


def test_leave_runs_nothing(tmp_path):
    marker = tmp_path / 'calls'
    now = [5000.0]
    response = isolation.IsolationResponse(
        'leave', 1.0, lambda: None, lambda: None,
        guest_command='touch %s' % marker, clock=lambda: now[0])
    now[0] = 5002.0           # a host that boots isolated
    assert response.tick() is True
    assert not marker.exists()
