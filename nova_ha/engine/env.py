"""The one interface between the engine and the world.

The decision core (nova_ha.engine.core) never touches anything; the
replica loop (nova_ha.engine.replica) reads the world and runs the core's
actions through these verbs only.  Two implementations: the simulated cloud
(nova_ha.engine.sim) and the real one (Nova through openstacksdk, tooz,
the fence drivers, the SQL history).  Every verb is bounded in time by its
implementation; a source that does not answer raises ``Unavailable``,
which the loop turns into an observation ("nova-api not answering"),
never a stuck flow.
"""

import abc
import contextlib


class Unavailable(Exception):
    """A dependency did not answer in time (or at all)."""


class Environment(abc.ABC):
    """Verbs of one engine replica.  ``me`` names the replica."""

    me = 'engine'

    # -- observe -----------------------------------------------------------

    @abc.abstractmethod
    def compute_services(self):
        """host -> model.Service."""

    @abc.abstractmethod
    def liveness(self):
        """host -> model.ALIVE | model.LOST (hosts it knows of)."""

    def peer_views(self, hosts):
        """observer host -> servicegroup.channels.PeerView, for those of
        ``hosts`` that publish one; None where there is no peer channel."""
        return None

    def lost_at(self):
        """host -> when its coordination heartbeat was reported lost, for
        the hosts lost now (it wrote none since); None where not known."""
        return None

    @abc.abstractmethod
    def aggregates(self):
        """A tuple of model.Aggregate."""

    @abc.abstractmethod
    def incidents(self):
        """Every open incident and each host's latest closed one
        (model.StoredIncident)."""

    @abc.abstractmethod
    def servers_on(self, host):
        """A tuple of model.Server on ``host``."""

    @abc.abstractmethod
    def servers(self, vm_ids, host=None, since=None):
        """vm id -> model.Server (a deleted VM: status DELETED) for the
        VMs, of those that were on ``host`` when the incident opened at
        ``since``, that changed since; one left out is as the plan read
        it."""

    @abc.abstractmethod
    def migrations(self, vm_ids, host=None, since=None):
        """vm id -> tuple of model.Migration from ``host`` since ``since``,
        oldest first."""

    @abc.abstractmethod
    def take_reports(self):
        """(host, 'down'|'up', at) hints received since the last call."""

    @abc.abstractmethod
    def take_events(self):
        """The monitors' reports of VM and process failures (model.Report)
        received since the last call."""

    @abc.abstractmethod
    def stopped_by_user(self, vm):
        """Whether the VM's owner stopped it (and did not start it since),
        from Nova's instance actions: Nova's own power sync stops a dead
        guest without a user."""

    # -- leases ------------------------------------------------------------

    @abc.abstractmethod
    def renew(self, key, token):
        """Keep the lease of incident ``key`` held at generation ``token``;
        False when it is no longer ours."""

    @abc.abstractmethod
    def lease_free(self, key):
        """True when nobody holds the lease of incident ``key``."""

    @abc.abstractmethod
    def lease_valid(self, key, token, within=0.0):
        """Checked before every side effect: ours, at this generation, and
        for at least ``within`` more seconds."""

    def side_effect_timeout(self, action):
        """The longest ``action``'s side effect may take (seconds)."""
        return 0.0

    def lease_left(self, key):
        """Seconds left of this replica's lease of ``key`` by its own
        clock (0: not held; infinite for a lease without a TTL)."""
        return float('inf')

    @contextlib.contextmanager
    def deadline(self, seconds):
        """Side effects run inside give up after ``seconds``: the lease
        they were checked under ends then."""
        yield

    @abc.abstractmethod
    def open_incident(self, host, sequence, reason):
        """Open incident ``host``'s number ``sequence`` and hold its lease:
        the StoredIncident, or None when another replica opened it."""

    @abc.abstractmethod
    def take_over(self, key, generation):
        """Take a free lease and bump the incident's generation from
        ``generation``: the StoredIncident, or None (someone was faster)."""

    @abc.abstractmethod
    def release(self, key):
        """Give the lease of ``key`` up."""

    # -- the history ---------------------------------------------------------

    @abc.abstractmethod
    def save(self, key, token, state, facts, records):
        """Write the incident if its generation is still ``token``; the
        transition records go with it.  False: a newer owner has it."""

    @abc.abstractmethod
    def note(self, kind, message, *, incident=None, token=0, host=None,
             instance=None, outcome=None, detail=None):
        """Append one record to the history."""

    @abc.abstractmethod
    def clear_request(self, key, request, token):
        """An operator's request to ``key`` has been acted on."""

    @abc.abstractmethod
    def relay(self, key, request, details):
        """Hand a monitor's report to the owner of incident ``key``: a
        request on the incident, which its owner reads and clears."""

    # -- side effects ----------------------------------------------------------

    @abc.abstractmethod
    def read_power(self, host):
        """'on', 'off' or 'unknown' from the host's BMC."""

    @abc.abstractmethod
    def fence(self, host):
        """A fencing.base.FenceResult."""

    @abc.abstractmethod
    def force_down(self, host, service_id):
        pass

    @abc.abstractmethod
    def disable(self, host, reason):
        pass

    @abc.abstractmethod
    def evacuate(self, vm, keep_running):
        pass

    @abc.abstractmethod
    def reset_stale_task(self, vm, source, task_state, to_state):
        """Reset the VM's task state only if Nova's records still show it
        on ``source`` with ``task_state`` and no move in flight; returns
        what was done ('reset' or why not)."""

    @abc.abstractmethod
    def set_power(self, vm, want):
        """Start (ACTIVE), stop (SHUTOFF) or reset to ERROR."""

    @abc.abstractmethod
    def release_reserved(self, host, aggregate):
        pass

    @abc.abstractmethod
    def restart_vm(self, vm, how):
        """'start' a stopped VM or 'hard_reboot' it, on its host."""

    @abc.abstractmethod
    def migrate_vm(self, vm):
        """A cold migration (the scheduler chooses the host)."""

    @abc.abstractmethod
    def confirm_move(self, vm):
        """Confirm a finished cold migration."""

    @abc.abstractmethod
    def enable(self, host):
        """Enable the host's compute service again."""
