"""The fault tests' judge: each promise, broken on purpose."""

import datetime

from nova_ha.history import objects

from nova_ha_testbed import invariants

T0 = datetime.datetime(2026, 12, 5, 3, 0, 0, tzinfo=datetime.timezone.utc)
SEGMENT = ('a2', 'a-spare')


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def record(n, seconds, kind, message, outcome=None, instance=None, token=1):
    return objects.HistoryRecord(n, at(seconds), kind, message,
                                 outcome=outcome, instance=instance,
                                 incident='host_failure:a1:1', token=token)


def migration(vm, seconds, status='done'):
    return {'instance_uuid': vm, 'migration_type': 'evacuation',
            'status': status,
            'created_at': at(seconds).replace(tzinfo=None).isoformat(),
            'updated_at': at(seconds + 1).replace(tzinfo=None).isoformat()}


def incident(state='recovered', closed=True):
    return objects.Incident('host_failure:a1:1', 'host_failure', 'a1', None,
                            state, T0, T0, T0 if closed else None)


def good_records():
    return [
        record(1, 0, 'transition', 'k detected -> confirming: why'),
        record(2, 1, 'transition', 'k fencing -> fenced: off'),
        record(3, 2, 'evacuate', 'asking', 'requested', 'vm1'),
        record(4, 3, 'evacuate', 'asking', 'requested', 'vm2'),
        record(5, 5, 'evacuate', 'moved', 'done', 'vm1', token=2),
        record(6, 6, 'evacuate', 'moved', 'done', 'vm2', token=2),
        record(7, 7, 'transition', 'k evacuating -> recovered: all',
               token=2),
    ]


def servers(vm2_status='SHUTOFF', vm2_host='a-spare'):
    return {'vm1': {'status': 'ACTIVE', 'OS-EXT-SRV-ATTR:host': 'a2'},
            'vm2': {'status': vm2_status,
                    'OS-EXT-SRV-ATTR:host': vm2_host}}


VMS = {'vm1': 'ACTIVE', 'vm2': 'SHUTOFF'}


def judge(migrations=None, servers_=None, records=None, incidents=None,
          expect='recovered'):
    return invariants.judge(
        VMS, migrations if migrations is not None else [
            migration('vm1', 2), migration('vm2', 3)],
        servers_ or servers(), records or good_records(),
        incidents or [incident()], SEGMENT, expect)


def test_a_clean_recovery_keeps_every_promise():
    verdict = judge()
    assert verdict.violations == []
    assert (verdict.duplicates, verdict.lost, verdict.evacuations) == \
        (0, 0, 2)


def test_a_second_accepted_evacuation_is_a_duplicate():
    verdict = judge(migrations=[migration('vm1', 2), migration('vm1', 4),
                                migration('vm2', 3)])
    assert verdict.duplicates == 1 and not verdict.ok


def test_a_failed_try_then_a_retry_is_not_a_duplicate():
    verdict = judge(migrations=[migration('vm1', 2, 'error'),
                                migration('vm1', 4), migration('vm2', 3)])
    assert verdict.ok, verdict.violations


def test_a_vm_in_another_state_or_outside_its_segment_is_lost():
    assert judge(servers_=servers(vm2_status='ACTIVE')).lost == 1
    assert judge(servers_=servers(vm2_host='b1')).lost == 1
    assert judge(migrations=[migration('vm1', 2)]).lost == 1


def test_an_evacuation_before_the_fence_proof_is_refused():
    records = good_records()
    records.insert(0, record(0, -3, 'evacuate', 'early', 'requested',
                             'vm1'))
    assert not judge(records=records).ok
    # Nova's own record of it counts too, beyond its one-second grain.
    assert not judge(migrations=[migration('vm1', -2),
                                 migration('vm2', 3)]).ok
    assert judge(migrations=[migration('vm1', 0.5),
                             migration('vm2', 3)]).ok


def test_records_without_token_or_going_back_in_generation_are_refused():
    records = good_records()
    records.append(record(8, 8, 'decision', 'late', token=1))
    assert any('generation 1 after one of 2' in v
               for v in judge(records=records).violations)
    records = good_records()
    records.append(record(8, 8, 'decision', 'nobody', token=None))
    assert not judge(records=records).ok


def test_a_former_owner_may_say_it_lost_the_lease_after_a_takeover():
    records = good_records()
    records.insert(5, record(9, 4.5, 'lease', 'engine-1 stops acting on '
                             'k: lease lost', token=1))
    assert judge(records=records).ok


def test_a_step_recorded_twice_is_refused():
    records = good_records()
    records.insert(2, record(9, 1.5, 'transition',
                             'k fencing -> fenced: again'))
    assert not judge(records=records).ok
    records = good_records()
    records.insert(6, record(9, 6.5, 'evacuate', 'again', 'done', 'vm1',
                             token=2))
    assert not judge(records=records).ok


def test_the_incident_must_end_as_expected():
    assert not judge(incidents=[incident('evacuating', closed=False)]).ok
    parked = [record(1, 0, 'transition', 'k fencing -> parked: no proof')]
    verdict = judge(migrations=[], records=parked,
                    incidents=[incident('parked', closed=False)],
                    expect='parked')
    assert verdict.ok, verdict.violations


def test_nothing_may_move_from_a_parked_host():
    parked = [record(1, 0, 'transition', 'k fencing -> parked: no proof')]
    verdict = judge(records=parked,
                    incidents=[incident('parked', closed=False)],
                    expect='parked')
    assert not verdict.ok
