"""The lab hosts' virt driver: Nova's fake driver plus a ledger of guests.

A lab host has no hypervisor (no nested virtualisation here), so its
nova-compute runs Nova's own ``FakeDriverWithoutFakeNodes`` (stable node
identity, so the service can restart).  This thin subclass only adds what
the lab needs to judge a scenario from outside Nova:

- a ledger file (``$NOVA_HA_LAB_HOST_DIR/ledger.json``) of the guests the
  driver runs and their power state, rewritten after every change, so the
  lab can see where each VM "runs" even while Nova's records lag;
- a host that boots runs no guest: the ledger is emptied at start, as a
  power cycle empties a real hypervisor;
- guests stopped from outside (a watchdog, an isolation response): while
  ``$NOVA_HA_LAB_HOST_DIR/guests-off`` exists, every guest is shut off,
  as QEMU processes killed under a running nova-compute;
- a crash loop on demand: while ``$NOVA_HA_LAB_HOST_DIR/crashloop`` exists,
  nova-compute exits as it starts its host (a broken package or config).

Loaded by nova-compute as ``compute_driver = nova_ha_lab.LabDriver``
(see nova_ha_lab.compute).
"""

import functools
import json
import os
import threading
import time

from oslo_log import log as logging

from nova.compute import power_state
from nova.virt import fake

LOG = logging.getLogger(__name__)

HOST_DIR_ENV = 'NOVA_HA_LAB_HOST_DIR'
CRASHLOOP_FILE = 'crashloop'
GUESTS_OFF = 'guests-off'
SHUTDOWN = 'shutdown'
LEDGER_FILE = 'ledger.json'

# The driver methods after which the guests or their power state changed.
_CHANGES = ('spawn', 'destroy', 'power_off', 'power_on', 'reboot',
            'rescue', 'unrescue', 'pause', 'unpause', 'suspend', 'resume',
            'finish_migration', 'finish_revert_migration',
            'post_live_migration_at_destination', 'live_migration',
            'migrate_disk_and_power_off', 'cleanup')


def read_ledger(path):
    """{'boot': float, 'guests': {uuid: 'running'|'shutdown'|...}} or
    None when the host never booted."""
    try:
        with open(path) as ledger:
            return json.load(ledger)
    except FileNotFoundError:
        return None


def _state_name(state):
    return power_state.STATE_MAP.get(state, str(state))


def _recorded(method):
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        finally:
            self._write_ledger()
    return call


class LabDriver(fake.FakeDriverWithoutFakeNodes):
    """A fake hypervisor whose guests are written to a ledger file."""

    # A small host, so capacity matters in the lab's scenarios.
    vcpus = 16
    memory_mb = 32768
    local_gb = 400

    def __init__(self, virtapi, read_only=False):
        super().__init__(virtapi, read_only=read_only)
        self._host_dir = os.environ.get(HOST_DIR_ENV)
        # Nova runs several operations at once, each in its own thread.
        self._ledger_lock = threading.Lock()
        self._boot = time.time()
        self._write_ledger()

    def init_host(self, host):
        if self._host_dir and os.path.exists(
                os.path.join(self._host_dir, CRASHLOOP_FILE)):
            LOG.error('lab: %s exists: this nova-compute crashes at start',
                      os.path.join(self._host_dir, CRASHLOOP_FILE))
            # What a broken install does: the process dies at once.
            os._exit(3)
        return super().init_host(host)

    def _write_ledger(self):
        if not self._host_dir:
            return
        ledger = {
            'boot': self._boot,
            'pid': os.getpid(),
            'updated_at': time.time(),
        }
        path = os.path.join(self._host_dir, LEDGER_FILE)
        temporary = '%s.%d.tmp' % (path, os.getpid())
        off = os.path.exists(os.path.join(self._host_dir, GUESTS_OFF))
        with self._ledger_lock:
            if off:
                for guest in list(self.instances.values()):
                    guest.state = power_state.SHUTDOWN
            ledger['guests'] = {uuid: _state_name(guest.state)
                                for uuid, guest in
                                list(self.instances.items())}
            with open(temporary, 'w') as out:
                json.dump(ledger, out, sort_keys=True)
            os.replace(temporary, path)


for _name in _CHANGES:
    setattr(LabDriver, _name, _recorded(
        getattr(fake.FakeDriverWithoutFakeNodes, _name)))
del _name
