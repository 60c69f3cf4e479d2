"""The guards' verdicts as a table."""

import pytest

from nova_ha.engine import guards
from nova_ha.engine import model
from nova_ha.model import aggregates as ha_aggregates

AGGS = (model.Aggregate('1', 'seg-a', ('a1', 'a2', 'a3', 'a4'),
                        {'ha:segment': 'seg-a'}),
        model.Aggregate('2', 'off', ('b1', 'b2'),
                        {'ha:segment': 'seg-b', 'ha:enabled': 'false'}),
        model.Aggregate('3', 'maint', ('a4',), {'ha:maintenance': 'true'}))
STORM = guards.StormSettings(max_share=0.5, settle_time=1.0, burst=1)


def _judge(host, failing=('a1',), index=0, now=10.0, opened=10.0,
           powers_off=True, certain=False, maintenance=False):
    view = ha_aggregates.host_view_of(AGGS, host)
    return guards.judge(host, view, in_maintenance=maintenance,
                        failing=set(failing), group_size=4, run_index=index,
                        reported_at=opened, now=now, storm=STORM,
                        powers_off=powers_off, dead_for_certain=certain)


@pytest.mark.parametrize('kwargs,proceed,words', [
    ({}, True, 'recovering a1 in segment seg-a'),
    ({'maintenance': True}, False, 'maintenance'),
    ({'failing': ('a1', 'a2')}, False, 'storm guard: 2 of 4'),
    # Exactly half is a storm (>=).
    ({'failing': ('a1', 'a2'), 'now': 20.0}, False, '50% >= 50%'),
    # One host is never a storm, whatever the share.
    ({'failing': ('a1',)}, True, 'recovering'),
    # A host proven off is not held by the storm guard.
    ({'failing': ('a1', 'a2', 'a3'), 'certain': True}, True, 'recovering'),
    # The second of a run waits the settle time...
    ({'index': 1}, False, 'waiting 1.0 s'),
    # ...and so does the first when fencing cannot power it off.
    ({'powers_off': False}, False, 'waiting'),
    ({'index': 1, 'now': 11.0}, True, 'recovering'),
])
def test_verdicts(kwargs, proceed, words):
    verdict = _judge('a1', **kwargs)
    assert verdict.proceed is proceed
    assert words in verdict.reason


def test_maintenance_aggregate_and_disabled_segment():
    assert 'maintenance' in _judge('a4').reason
    assert 'ha:enabled=false' in _judge('b1').reason


def test_hosts_in_no_segment_form_one_group():
    services = {'a1': None, 'x1': None, 'x2': None, 'b1': None}
    assert guards.group_hosts(AGGS, services, guards.NO_SEGMENT) == \
        {'x1', 'x2'}
    assert guards.group_of(ha_aggregates.host_view_of(AGGS, 'x1')) == \
        guards.NO_SEGMENT


def test_run_index_chains_reports_less_than_settle_apart():
    reports = {(0.0, 'a'), (0.5, 'b'), (1.2, 'c'), (5.0, 'd')}
    assert [guards.run_index(reports, k, 1.0) for k in 'abcd'] == \
        [0, 1, 2, 0]


def _service(host, age, forced_down=False):
    from nova_ha.engine import model
    return model.Service(host, heartbeat_age=age, forced_down=forced_down)


def test_many_nova_computes_silent_together_are_a_control_plane_outage():
    services = {h: _service(h, 45.0) for h in ('a1', 'a2', 'a3')}
    services['a4'] = _service('a4', 2.0)
    reason = guards.control_plane_outage(services, 20.0,
                                         guards.StormSettings())
    assert reason.startswith('3 of 4 nova-computes')


def test_one_silent_nova_compute_is_no_outage():
    services = {h: _service(h, 2.0) for h in ('a1', 'a2', 'a3')}
    services['a4'] = _service('a4', 45.0)
    assert guards.control_plane_outage(services, 20.0,
                                       guards.StormSettings()) is None


def test_hosts_forced_down_are_not_counted():
    services = {h: _service(h, 45.0, forced_down=True)
                for h in ('a1', 'a2')}
    services['a3'] = _service('a3', 45.0)
    services['a4'] = _service('a4', 2.0)
    assert guards.control_plane_outage(services, 20.0,
                                       guards.StormSettings()) is None
