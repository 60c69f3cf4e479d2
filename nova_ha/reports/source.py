"""Reads what the reports need from the history (HistoryStore)."""

import datetime

from nova_ha.engine import states
from nova_ha.reports import availability

#: VM failures reported this long before the period may still end inside
#: it (a restart is bounded by the engine's evacuation timeout, minutes).
VM_FAILURE_LOOKBACK = datetime.timedelta(days=1)
#: The engine's guard records the segment just before opening the
#: incident, after the storm settle time and the confirmation.
SEGMENT_LOOKBACK = datetime.timedelta(hours=1)


class UnknownIncident(LookupError):
    """No incident matches; the message lists close candidates."""


def recorded_segment(store, incident):
    """The segment the engine recorded for the failed host, or None.

    The engine keeps it in the incident's facts (``segment``, once its
    guards let the recovery proceed); the earlier flow recorded it on its
    decision record, just before it opened the incident.
    """
    segment = (incident.detail or {}).get('segment')
    if segment and isinstance(segment, str):
        return segment
    records = store.query(
        host=incident.host,
        since=availability.failure_time(incident) - SEGMENT_LOOKBACK,
        until=incident.opened_at + datetime.timedelta(seconds=1))
    return next((r.segment for r in reversed(records) if r.segment), None)


def load_outages(store, since, until, host_segments=None):
    """Every outage that may overlap [since, until).

    Host failures: incidents reported before ``until`` and open or closed
    after ``since`` (a VM not recovered by an incident closed before the
    period is not counted in it).  ``host_segments``: host -> segment, for
    hosts the history does not place (from Nova, when it is reachable).
    """
    segments = dict(host_segments or {})
    outages = []
    for incident in store.list_incidents(kind=states.KIND):
        if availability.failure_time(incident) >= until:
            continue
        closed = availability.closed_time(incident)
        if closed is not None and closed < since:
            continue
        segment = recorded_segment(store, incident) or \
            segments.get(incident.host)
        if segment:
            segments.setdefault(incident.host, segment)
        outages.extend(availability.host_failure_outages(
            incident, store.steps(incident.key),
            store.query(incident=incident.key, kind='evacuate'), segment))
    early = since - VM_FAILURE_LOOKBACK
    received = store.query(kind='event.received', since=early, until=until)
    outcomes = store.query(kind='restart', since=early) + [
        r for r in store.query(kind='alert', since=early)
        if r.outcome == availability.ESCALATED]
    outages.extend(availability.vm_failure_outages(received, outcomes,
                                                   segments))
    return outages


def timeline_inputs(store, incident):
    """What ``timeline.incident_timeline`` reads of ``incident``: its
    steps (the earlier flow's) and its records (the engine's)."""
    return store.steps(incident.key), store.query(incident=incident.key)


def find_incident(store, text):
    """The incident whose key is ``text``, or the only one it begins."""
    incident = store.get_incident(text)
    if incident is not None:
        return incident
    matches = [i for i in store.list_incidents() if i.key.startswith(text)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UnknownIncident('no incident %r (see `nova-ha history '
                              'incidents`)' % text)
    raise UnknownIncident('%r matches %d incidents: %s' % (
        text, len(matches), ', '.join(i.key for i in matches[-5:])))
