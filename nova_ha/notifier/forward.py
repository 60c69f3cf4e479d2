"""``nova_ha_forward``: a notify driver that filters Nova's notifications
inside Nova and forwards only those the engine uses.

A busy cloud emits thousands of versioned notifications a second
(instance.update, compute_task.*, ...); the engine uses one event type in
about a hundred.  Filtering at the engine means every message crosses the
broker and is decoded by one consumer, which caps what the engine can keep
up with (see bench/listener_throughput.py).  Loaded by oslo.messaging in
every Nova service through ``[oslo_messaging_notifications] driver``, this
driver looks at each notification's event type where it is born (a set or
regex test, about a microsecond) and sends the few that match to nova-ha's
own topic on the same notification transport, in the messagingv2 format
the engine's listener reads.  Nova's other consumers are unaffected: list
``messagingv2`` beside it if they need the full stream, or leave it out and
the broker carries only what nova-ha needs.

nova.conf on every Nova host::

    [oslo_messaging_notifications]
    driver = messagingv2          # only if other consumers need the stream
    driver = nova_ha_forward

    [notification_forward]
    topic = nova_ha_nova          # = [engine] nova_topic of the engine
"""

import re

from oslo_log import log as logging
from oslo_messaging.notify import messaging as notify_messaging
from oslo_messaging.notify import notifier

from nova_ha.conf import engine as engine_conf

LOG = logging.getLogger(__name__)

class ForwardDriver(notifier.Driver):
    """Forward the notifications whose event type matches; drop the rest."""

    def __init__(self, conf, topics, transport):
        super().__init__(conf, topics, transport)
        engine_conf.register_opts(conf)
        options = conf.notification_forward
        self._wanted = re.compile(options.event_types)
        self._send = notify_messaging.MessagingV2Driver(
            conf, topics=[options.topic], transport=transport)
        LOG.info('nova-ha: forwarding notifications matching %s to topic '
                 '%s', options.event_types, options.topic)

    def notify(self, ctxt, message, priority, retry):
        event_type = message.get('event_type')
        if isinstance(event_type, str) and self._wanted.match(event_type):
            self._send.notify(ctxt, message, priority, retry)
