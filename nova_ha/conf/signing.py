"""Options of the check of monitor events' signatures by nova-ha-engine.

Each compute host's nova-ha-monitor signs its events with ``[monitor]
event_key``; the engine checks them against ``[event_signing] host_keys``
(see nova_ha.notifier.signing and docs/operator/operator.md, "Signing monitor
events").
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'event_signing', title='nova-ha signed monitor events',
    help='How nova-ha-engine checks the per-host HMAC signatures of the '
         'events nova-ha-monitor publishes on [engine] monitor_topic. '
         'Without them anyone who can publish on that topic can make the '
         'engine fence any host.')

OPTS = [
    cfg.BoolOpt('required', default=True,
                help='Refuse, log as errors and record (event.rejected in '
                     'the history) monitor events that are unsigned, signed '
                     'with a key other than their host\'s, about a host '
                     'without a key in host_keys, about another host than '
                     'the one whose monitor published them, or older (or '
                     'further in the future) than max_age. Give every '
                     'compute host its own [monitor] event_key and the '
                     'engines every host\'s key in host_keys. Setting it to '
                     'false accepts unsigned events: then anyone who can '
                     'publish on the message bus (a compromised compute '
                     'host, a leaked RabbitMQ account) is an attacker who '
                     'can report any host dead and make the engine fence '
                     'it and evacuate its VMs, or report VMs failed and '
                     'have them rebuilt. It is an explicit trade of that '
                     'safety for not provisioning keys; signed events '
                     'whose host has a key are still checked.'),
    cfg.DictOpt('host_keys', default={}, secret=True,
                help='Per-host keys, host1:key1,host2:key2, with the host '
                     'names of [monitor] host. Each key is the same as '
                     'that host\'s [monitor] event_key.'),
    cfg.FloatOpt('max_age', default=300.0, min=1.0,
                 help='With required (the default), seconds an event\'s time may '
                      'lie in the past or in the future (clock skew) '
                      'before the event is refused as stale: a signed '
                      'event replayed later is refused even once the '
                      'engine no longer remembers its id. Keep the clocks '
                      'of compute hosts and engines synchronized (NTP).'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
