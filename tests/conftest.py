"""Test tiers: a pytest marker on every test, given by its folder.

    fast         tests/unit, tests/scenarios: no services, no Nova processes,
                 none of the lab's packages (no libvirt-python needed)
    functional   tests/functional: Nova's services in one process
    integration  tests/integration except faults/: real services
    faults       tests/integration/faults: the replica fault tests
    lab          tests/lab: the lab cloud
    explorer     the randomized explorer's seed budget (a test of the fast
                 tier that also carries this marker, see below)

Select with ``-m`` (``pytest -m fast``, ``-m "not lab"``) or through
``bash tools/test.sh --tier NAME``.  A test in a folder of no tier is a
collection error: add the folder to TIERS.

When ``-m`` names tiers only, the folders of the tiers it cannot select are
not even collected, so ``-m fast`` neither pays for nor needs the imports
of the other tiers.

The explorer's budget (EXPLORER_SEEDS, read by
tests/scenarios/test_explorer.py) is 500 seeds when the ``-m`` expression
selects the fast tier but not the explorer tier (``-m fast``: about 12 s
instead of about 50 s on two cores), and the test's own 2,000 otherwise
(a plain ``pytest``, ``-m explorer``, and ``bash tools/test.sh``'s full run,
whose explorer tier runs it after the fast tier).  EXPLORER_SEEDS in the
environment always wins.
"""

import os
import re

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))

# Folders (relative to tests/) and their tier; the deepest match wins.
TIERS = {
    'unit': 'fast',
    'scenarios': 'fast',
    'functional': 'functional',
    'integration': 'integration',
    os.path.join('integration', 'faults'): 'faults',
    'lab': 'lab',
}
# The explorer's fixed budget: fast tier by its folder, and the explorer
# tier too.
EXPLORER_FILE = os.path.join('scenarios', 'test_explorer.py')
EXPLORER_TEST = 'test_the_explorers_budget_finds_no_violation'
FAST_EXPLORER_SEEDS = '500'

MARKERS = frozenset(TIERS.values()) | {'explorer'}


def _relative(path):
    """path relative to tests/, or None outside it."""
    rel = os.path.relpath(os.path.abspath(str(path)), HERE)
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return None
    return rel


def _tier(rel):
    """The tier of a path relative to tests/ (the deepest folder), or None."""
    best = None
    for folder, tier in TIERS.items():
        if rel == folder or rel.startswith(folder + os.sep):
            if best is None or len(folder) > len(best[0]):
                best = (folder, tier)
    return best and best[1]


def _selects(markexpr, markers):
    """Whether -m markexpr selects a test carrying exactly these markers.

    None when it cannot tell: the expression names something other than a
    tier, or is not plain and/or/not with parentheses.
    """
    if not markexpr.strip():
        return True
    words = []
    for token in re.findall(r'\(|\)|[^\s()]+', markexpr):
        if token in ('(', ')', 'and', 'or', 'not'):
            words.append(token)
        elif token in MARKERS:
            words.append(str(token in markers))
        else:
            return None
    try:
        return bool(eval(' '.join(words), {'__builtins__': {}}))
    except Exception:
        return None


def _could_select(markexpr, rel):
    """Whether -m markexpr may select a test in rel (a path in tests/)."""
    sets = []
    tier = _tier(rel)
    if tier is not None:
        sets.append({tier})
    below = rel + os.sep
    for folder, folder_tier in TIERS.items():
        if rel == os.curdir or folder.startswith(below):
            sets.append({folder_tier})
    if rel in (os.curdir, EXPLORER_FILE) or EXPLORER_FILE.startswith(below):
        sets.append({'fast', 'explorer'})
    if not sets:
        return True
    return any(_selects(markexpr, markers) is not False for markers in sets)


def pytest_configure(config):
    markexpr = config.getoption('markexpr', '') or ''
    if ('EXPLORER_SEEDS' not in os.environ
            and _selects(markexpr, {'fast'})
            and _selects(markexpr, {'explorer'}) is False):
        os.environ['EXPLORER_SEEDS'] = FAST_EXPLORER_SEEDS


def pytest_ignore_collect(collection_path, config):
    rel = _relative(collection_path)
    if rel is None:
        return None
    markexpr = config.getoption('markexpr', '') or ''
    if not _could_select(markexpr, rel):
        return True
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = _relative(item.path)
        if rel is None:
            continue
        tier = _tier(rel)
        if tier is None:
            raise pytest.UsageError(
                'tests/%s is in no test tier: add its folder to TIERS in '
                'tests/conftest.py' % rel)
        item.add_marker(tier)
        if rel == EXPLORER_FILE and item.name == EXPLORER_TEST:
            item.add_marker('explorer')
