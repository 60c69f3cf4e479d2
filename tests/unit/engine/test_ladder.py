"""The fencing ladder: the rung tried now, in the ladder's order."""

import pytest

from nova_ha.engine import ladder


@pytest.mark.parametrize('rungs, spent, passed, rung', [
    (('bmc', 'watchdog', 'operator'), (), (), 'bmc'),
    (('bmc', 'watchdog', 'operator'), ('bmc',), (), 'watchdog'),
    # a BMC that does not answer is passed over, not spent
    (('bmc', 'watchdog', 'operator'), (), ('bmc',), 'watchdog'),
    (('watchdog', 'bmc', 'operator'), (), (), 'watchdog'),
    (('watchdog', 'bmc', 'operator'), ('watchdog',), (), 'bmc'),
    (('bmc', 'watchdog'), ('bmc', 'watchdog'), (), None),
    (('operator',), (), (), 'operator'),
])
def test_current(rungs, spent, passed, rung):
    assert ladder.current(rungs, spent, passed) == rung


def test_only_a_ladder_with_the_operator_rung_takes_an_attestation():
    assert ladder.accepts_attestation(('bmc', 'operator'))
    assert not ladder.accepts_attestation(('bmc', 'watchdog'))
