"""Where one VM of a failed host stands, judged from Nova's records alone.

Nova changes a server's host only when an evacuation finishes, so the
server alone cannot tell a move in flight from one never begun: the
migration records can (Nova writes an evacuation's migration, status
``accepted``, before its API answers).  Verdicts:

===========  ================================================================
gone         the server was deleted: nothing to move
unknown      Nova did not answer about it: wait
in_flight    an evacuation is under way (any owner began it): follow it
foreign      another kind of move is in flight (a live migration caught by
             the failure): never reset, never evacuated behind its back
stale_task   on the failed host with a task state and no move in flight:
             the task died with the host; reset it (proof: the records)
ready        on the failed host, idle: ask Nova to evacuate it
failed_try   its last evacuation failed in Nova before a destination was
             chosen (no valid host): ready again if attempts remain
failed_on    its last evacuation failed on its destination: the guest may
             have been spawned there and run on; never retried elsewhere
stranded     its evacuation is bound for a destination proven powered off
             after it began: it cannot finish while that host is off, and
             may finish there if the host comes back (its request waits
             in that host's queue); never retried elsewhere
moved        on another host and idle: restore its power state, then done
===========  ================================================================
"""

from nova_ha.engine import model

GONE_STATUSES = ('DELETED', 'SOFT_DELETED')


def in_flight(migrations):
    """The newest migration still in flight, or None."""
    for migration in sorted(migrations or (), key=lambda m: m.created,
                            reverse=True):
        if migration.status in model.MIGRATION_IN_FLIGHT:
            return migration
    return None


def stranded(migration, dead):
    """The move was bound for a host powered off after it began."""
    return migration.dest is not None and \
        dead.get(migration.dest, float('-inf')) >= migration.created \
        if isinstance(dead, dict) else migration.dest in dead


def judge(server, migrations, failed_host, since, dead=()):
    """The verdict for one planned VM.

    ``migrations``: every migration of the VM Nova lists (None: not read);
    ``since``: when the incident opened (older evacuations do not count
    as tries of this recovery); ``dead``: host -> since when it was proven
    powered off (a move bound there never ends, and no guest it spawned
    there runs).
    """
    if server is None or migrations is None:
        return 'unknown'
    if server.status in GONE_STATUSES:
        return 'gone'
    moving = in_flight(migrations)
    if moving is not None and moving.type == 'evacuation' and \
            stranded(moving, dead):
        return 'stranded'
    if moving is not None:
        return 'in_flight' if moving.type == 'evacuation' else 'foreign'
    if server.host != failed_host:
        return 'in_flight' if server.task_state else 'moved'
    if server.task_state:
        return 'stale_task'
    tries = [m for m in migrations if m.type == 'evacuation' and
             m.created >= since and m.source == failed_host]
    last = max(tries, key=lambda m: m.created) if tries else None
    if last is not None and last.status in model.MIGRATION_FAILED:
        # Nova fails an evacuation on its destination after it may have
        # spawned the guest (the server stays on its source, in ERROR):
        # another try elsewhere could run it twice.
        return 'failed_on' if last.dest else 'failed_try'
    return 'ready'


def tries(migrations, failed_host, since):
    """Evacuations of this VM from ``failed_host`` that Nova accepted
    since the incident opened."""
    return sum(1 for m in migrations or () if m.type == 'evacuation' and
               m.source == failed_host and m.created >= since)


def latest_try(migrations, failed_host, since):
    """The newest evacuation of this VM from ``failed_host`` since the
    incident opened, or None."""
    tries = [m for m in migrations or () if m.type == 'evacuation' and
             m.source == failed_host and m.created >= since]
    return max(tries, key=lambda m: m.created) if tries else None
