"""The randomized explorer's fixed budget: random clouds and fault
schedules, judged strictly at every instant (nova_ha.engine.explore).

CI runs seeds 0..EXPLORER_SEEDS-1 (2,000 unless the environment says
otherwise); longer campaigns are a command:

    .venv/bin/python -m nova_ha.engine.explore --seeds 100000 --jobs 2
"""

import os
import time

from nova_ha.engine import explore
from nova_ha.engine import judge
from nova_ha.engine import scenario

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = int(os.environ.get('EXPLORER_SEEDS', '2000'))


def test_the_explorers_budget_finds_no_violation():
    started = time.monotonic()
    runs, failures = explore.explore(range(SEEDS), jobs=2)
    elapsed = time.monotonic() - started
    print('%d seeds in %.1f s (%.0f per second)' % (runs, elapsed,
                                                    runs / elapsed))
    assert runs == SEEDS
    assert failures == {}, 'failing seeds (replay with python -m ' \
        'nova_ha.engine.explore --show SEED): %s' % sorted(failures)


def test_a_seed_replays_exactly():
    assert explore.case(1234) == explore.case(1234)
    assert explore.case(1234) != explore.case(1235)
    first, _ = explore.judge(*explore.case(77))
    again, _ = explore.judge(*explore.case(77))
    assert first == again


def test_a_failure_is_shrunk_to_a_scenario_that_still_fails(tmp_path):
    # A cloud whose engines believe a software watchdog (an unsafe
    # opt-in), with noise around the hang that makes it run twice.
    spec, lines = scenario.load(os.path.join(
        HERE, 'fencing', 'software_watchdog_believed_runs_twice'))
    noisy = ['delay 3', 'cut engine-1', 'delay 1', 'uncut engine-1',
             'nova down', 'delay 2', 'nova up'] + lines
    found, _ = explore.judge(spec, noisy)
    assert {k for k, _ in found} == {judge.TWICE}
    small_spec, small = explore.shrink(spec, noisy, {judge.TWICE})
    assert len(small) < len(noisy)
    assert not any(line.startswith(('cut', 'nova')) for line in small)
    folder = explore.write_folder(str(tmp_path), 7, small_spec, small,
                                  explore.judge(small_spec, small)[0])
    assert sorted(os.listdir(folder)) == ['README', 'cloud.yaml', 'events',
                                          'expected.log']
    replayed = scenario.run(folder)
    assert any('VIOLATION twice' in line for line in replayed)
