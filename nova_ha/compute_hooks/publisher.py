"""EventPublisher: how the compute-node monitors talk to the engine.

Every monitor (libvirt events, process watch) reports through one
publisher, which stamps the host and the observing source, validates the
payload with the very parser the engine applies (``events.parse_monitor_event``)
and sends it on the engine's topic.  A payload the engine would reject is a
bug in the monitor, so it fails here, loudly, instead of being dropped on
the far side.  With a key (``[monitor] event_key``) it signs each payload
after validating it (nova_ha.notifier.signing), so that the engine can tell
this host's events from forged ones; the key appears in no log and no repr.
"""

import datetime

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_ha.notifier import events
from nova_ha.notifier import listener
from nova_ha.notifier import signing

LOG = logging.getLogger(__name__)


class InvalidMonitorEvent(ValueError):
    """A monitor built an event the engine would reject."""


class EventPublisher:
    """Publish ``nova-ha.event/1`` events for one host.

    :param notifier: an oslo.messaging Notifier on the engine's topic
        (``listener.monitor_notifier``)
    :param host: the compute host name, as Nova knows it
    :param source: who observes, e.g. ``libvirt`` or ``process-monitor``
    :param key: this host's event key (``[monitor] event_key``); every
        payload is signed with it.  None (or empty): payloads are not signed.
    """

    def __init__(self, notifier, host, source, key=None):
        self._notifier = notifier
        self.host = host
        self.source = source
        self._key = key or None

    @property
    def signed(self):
        """Whether this publisher signs its events."""
        return self._key is not None

    def __repr__(self):
        return '%s(host=%r, source=%r, signed=%s)' % (
            type(self).__name__, self.host, self.source, self.signed)

    def publish(self, event_type, **fields):
        """Validate and send one event; returns the payload that was sent.

        ``fields`` are the schema's optional fields (instance, cause,
        process, detail, id, at).  Raises InvalidMonitorEvent when the
        engine would reject the payload; messaging errors propagate (the
        caller decides whether to retry).
        """
        fields.setdefault('source', self.source)
        payload = events.monitor_payload(event_type, self.host, **fields)
        checked = events.parse_monitor_event(
            event_type, payload, datetime.datetime.now(datetime.timezone.utc))
        if isinstance(checked, events.Rejection):
            raise InvalidMonitorEvent('%s: %s' % (event_type, checked.reason))
        if self._key is not None:
            payload = signing.sign(event_type, payload, self._key)
        self._notifier.info({}, event_type, payload)
        LOG.info('published %s for %s (%s)', event_type, self.host,
                 ', '.join('%s=%s' % (key, payload[key]) for key in
                           ('instance', 'cause', 'process') if key in payload)
                 or 'host')
        return payload

    def with_source(self, source):
        """The same channel, reporting as another observer."""
        return EventPublisher(self._notifier, self.host, source, self._key)


def from_conf(conf, host, source):
    """A publisher on ``[engine] monitor_topic`` over the notification
    transport of ``conf`` (``[oslo_messaging_notifications] transport_url``,
    else ``[DEFAULT] transport_url``), publishing as
    ``nova-ha-monitor.<host>`` and signing with ``[monitor] event_key``
    when it is set."""
    transport = messaging.get_notification_transport(conf)
    notifier = listener.monitor_notifier(
        transport, conf.engine.monitor_topic,
        signing.monitor_publisher_id(host))
    return EventPublisher(notifier, host, source, conf.monitor.event_key)
