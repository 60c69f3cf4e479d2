"""Which watchdog a device really is, from the kernel's sysfs.

There is no watchdog device on this machine, so the sysfs tree is a fake
one written under tmp_path (the layout of /sys/class/watchdog: one
watchdogN directory per device, with its ``identity`` and its ``dev``
numbers); the devices are regular files named like the kernel's, and
/dev/null stands in for a character device to match by its numbers.
What is real is the reading: the same function the monitor calls on
/sys/class/watchdog.
"""

import os

import pytest

from nova_ha.compute_hooks import watchdog
from nova_ha.servicegroup import self_fence


def _sysfs(root, *devices):
    """A fake /sys/class/watchdog with ``(name, identity, dev)``."""
    for name, identity, dev in devices:
        entry = root / name
        entry.mkdir(parents=True)
        (entry / 'identity').write_text(identity + '\n')
        (entry / 'dev').write_text(dev + '\n')
    return str(root)


def _device(tmp_path, name):
    path = tmp_path / 'dev' / name
    path.parent.mkdir(exist_ok=True)
    path.write_text('')
    return str(path)


@pytest.mark.parametrize('identity, kind', [
    ('Software Watchdog', self_fence.SOFTDOG),
    ('IPMI', self_fence.IPMI),
    ('ipmi_watchdog', self_fence.IPMI),
    ('iTCO_wdt', self_fence.HARDWARE),
    ('sp5100-tco', self_fence.HARDWARE),
])
def test_the_identity_names_the_kind(identity, kind):
    assert watchdog.kind_of_identity(identity) == kind


def test_legacy_device_is_the_first_watchdog(tmp_path):
    # /dev/watchdog is watchdog0's: an already loaded softdog is softdog,
    # not "hardware" because a device exists.
    sysfs = _sysfs(tmp_path / 'sys',
                   ('watchdog0', 'Software Watchdog', '247:0'),
                   ('watchdog1', 'iTCO_wdt', '247:1'))
    assert watchdog.sysfs_identity(_device(tmp_path, 'watchdog'),
                                   sysfs) == 'Software Watchdog'


def test_a_numbered_device_is_found_by_its_name(tmp_path):
    sysfs = _sysfs(tmp_path / 'sys',
                   ('watchdog0', 'Software Watchdog', '247:0'),
                   ('watchdog1', 'IPMI', '247:1'))
    assert watchdog.sysfs_identity(_device(tmp_path, 'watchdog1'),
                                   sysfs) == 'IPMI'


def test_a_character_device_is_found_by_its_numbers(tmp_path):
    null = os.stat('/dev/null').st_rdev
    sysfs = _sysfs(tmp_path / 'sys',
                   ('watchdog0', 'Software Watchdog', '247:0'),
                   ('watchdog3', 'iTCO_wdt', '%d:%d' % (
                       os.major(null), os.minor(null))))
    assert watchdog.sysfs_identity('/dev/null', sysfs) == 'iTCO_wdt'


def test_no_entry_is_no_identity(tmp_path):
    sysfs = _sysfs(tmp_path / 'sys', ('watchdog1', 'iTCO_wdt', '247:1'))
    assert watchdog.sysfs_identity(_device(tmp_path, 'watchdog'),
                                   sysfs) is None
    assert watchdog.sysfs_identity(_device(tmp_path, 'watchdog'),
                                   str(tmp_path / 'absent')) is None


@pytest.mark.parametrize('requested, identity, kind, warns', [
    ('hardware', 'iTCO_wdt', 'hardware', False),
    ('hardware', 'Software Watchdog', 'softdog', True),
    ('hardware', 'IPMI', 'ipmi', True),
    ('auto', 'Software Watchdog', 'softdog', False),
    ('auto', 'IPMI', 'ipmi', False),
    ('softdog', 'Software Watchdog', 'softdog', False),
    # softdog asked for, but /dev/watchdog was a device already
    ('softdog', 'iTCO_wdt', 'hardware', False),
    # nothing tells what it is: never announced as hardware
    ('hardware', None, 'softdog', True),
    ('auto', None, 'softdog', True),
])
def test_the_kind_announced_is_the_kind_found(requested, identity, kind,
                                              warns):
    announced, warning = watchdog.announced_kind(requested, '/dev/watchdog',
                                                 identity)
    assert announced == kind
    assert bool(warning) == warns
    if warns:
        assert '/dev/watchdog' in warning and kind in warning
