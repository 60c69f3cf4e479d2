"""EventPublisher: how the compute-node monitors talk to the engine.

Every monitor (libvirt events, process watch) reports through one
publisher, which stamps the host and the observing source, validates the
payload with the very parser the engine applies (``events.parse_monitor_event``)
and sends it on the engine's topic.  A payload the engine would reject is a
bug in the monitor, so it fails here, loudly, instead of being dropped on
the far side.
"""

import datetime

from oslo_log import log as logging
import oslo_messaging as messaging

from nova_ha.notifier import events
from nova_ha.notifier import listener

LOG = logging.getLogger(__name__)


class InvalidMonitorEvent(ValueError):
    """A monitor built an event the engine would reject."""


class EventPublisher:
    """Publish ``nova-ha.event/1`` events for one host.

    :param notifier: an oslo.messaging Notifier on the engine's topic
        (``listener.monitor_notifier``)
    :param host: the compute host name, as Nova knows it
    :param source: who observes, e.g. ``libvirt`` or ``process-monitor``
    """

    def __init__(self, notifier, host, source):
        self._notifier = notifier
        self.host = host
        self.source = source

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
        self._notifier.info({}, event_type, payload)
        LOG.info('published %s for %s (%s)', event_type, self.host,
                 ', '.join('%s=%s' % (key, payload[key]) for key in
                           ('instance', 'cause', 'process') if key in payload)
                 or 'host')
        return payload

    def with_source(self, source):
        """The same channel, reporting as another observer."""
        return EventPublisher(self._notifier, self.host, source)


def from_conf(conf, host, source):
    """A publisher on ``[engine] monitor_topic`` over the notification
    transport of ``conf`` (``[oslo_messaging_notifications] transport_url``,
    else ``[DEFAULT] transport_url``)."""
    transport = messaging.get_notification_transport(conf)
    notifier = listener.monitor_notifier(
        transport, conf.engine.monitor_topic, 'nova-ha-monitor.%s' % host)
    return EventPublisher(notifier, host, source)
