"""The incident state table: allowed changes, records, keys."""

import pytest

# Each kind of incident declares its table when its module is loaded.
from nova_ha.engine import process_failure  # noqa: F401
from nova_ha.engine import states
from nova_ha.engine import vm_failure  # noqa: F401


def _incident(state=states.DETECTED):
    return states.Incident('host_failure:c1:1', 'c1', state, 0.0, 0.0,
                           token=3)


@pytest.mark.parametrize('before,after,ok', [
    (states.DETECTED, states.CONFIRMING, True),
    (states.CONFIRMING, states.FENCING, True),
    (states.FENCING, states.FENCED, True),
    (states.FENCED, states.EVACUATING, True),
    (states.EVACUATING, states.RECOVERED, True),
    (states.FENCING, states.PARKED, True),
    (states.PARKED, states.DETECTED, True),
    (states.HELD, states.CANCELLED, True),
    # Never evacuate without passing through a proof of power-off.
    (states.CONFIRMING, states.EVACUATING, False),
    (states.HELD, states.EVACUATING, False),
    (states.PARKED, states.EVACUATING, False),
    # A fenced host cannot be "cancelled": it is off, its VMs must move.
    (states.FENCED, states.CANCELLED, False),
    (states.EVACUATING, states.CANCELLED, False),
    # A parked incident never goes back to fencing on its own.
    (states.PARKED, states.FENCING, False),
    # Closed is final.
    (states.RECOVERED, states.DETECTED, False),
    (states.CLOSED, states.DETECTED, False),
])
def test_transition_table(before, after, ok):
    incident = _incident(before)
    if ok:
        changed, record = states.transition(incident, after, 'why', 5.0,
                                            plan=[1])
        assert (changed.state, changed.since) == (after, 5.0)
        assert changed.fact('plan') == [1]
        assert record.line() == 'host_failure:c1:1 %s -> %s: why' % (
            before, after)
        assert record.token == 3
    else:
        with pytest.raises(states.BadTransition):
            states.transition(incident, after, 'why', 5.0)


@pytest.mark.parametrize('state', sorted(states.OPEN))
def test_an_operator_may_close_any_open_incident(state):
    assert states.allowed(state, states.CLOSED)


def test_every_state_is_open_or_final():
    assert states.OPEN | states.FINAL == set(states._ALLOWED) | states.FINAL
    assert not states.OPEN & states.FINAL


def test_keys_are_numbered_per_host():
    key = states.key_for('c1', 7)
    assert key == 'host_failure:c1:7'
    assert states.sequence_of(key) == 7
    assert states.sequence_of('garbage') is None


@pytest.mark.parametrize('kind', sorted(states.TABLES))
def test_the_history_closes_every_final_state(kind):
    # An incident the engine ends must read as closed in the history (its
    # subject may fail again and get a new incident), an open one as open.
    from nova_ha.history import objects
    table = states.TABLES[kind]
    assert table.final <= objects.CLOSED_STATES
    assert not table.open & objects.CLOSED_STATES
    assert table.initial in table.open
    assert set(table.allowed) <= table.open

