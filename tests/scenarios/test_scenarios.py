"""Every scenario folder here, run on the simulated cloud and diffed line
by line against its expected.log (see nova_ha.engine.scenario).  Folders
are grouped by concern (detection, peers, fencing, operator, evacuation,
storms, replicas, control_plane, vm_failure, process_failure) and named
by the behaviour they show.

A folder without expected.log gets one written from its run, and the test
fails so that a person reviews it before it is committed.
"""

import difflib
import os

import pytest

from nova_ha.engine import scenario

HERE = os.path.dirname(os.path.abspath(__file__))
FOLDERS = sorted(os.path.relpath(path, HERE)
                 for path, _, files in os.walk(HERE) if 'events' in files)


def test_there_are_scenarios():
    assert len(FOLDERS) >= 1


@pytest.mark.parametrize('name', FOLDERS)
def test_scenario(name):
    folder = os.path.join(HERE, name)
    got = scenario.run(folder)
    expected_path = os.path.join(folder, 'expected.log')
    if not os.path.exists(expected_path):
        with open(expected_path, 'w') as f:
            f.write('\n'.join(got) + '\n')
        pytest.fail('%s: expected.log was missing and has been written '
                    'from this run: review it' % name)
    with open(expected_path) as f:
        expected = f.read().splitlines()
    diff = list(difflib.unified_diff(expected, got, 'expected.log', 'run',
                                     lineterm=''))
    assert not diff, '\n'.join(diff)
    assert got[-1].endswith('invariant violations: none') or \
        'violation' in open(os.path.join(folder, 'README')).read(), got[-1]
