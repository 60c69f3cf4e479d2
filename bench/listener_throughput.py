"""Notifications per second the engine's Nova listener filters through RabbitMQ.

A busy cloud's versioned_notifications topic carries mostly messages the
engine does not use (instance.update, compute_task..., ...).  This bench
fills a queue on the real broker (127.0.0.1:5672) with N Nova-shaped
notifications, 1 in 100 of which is an instance.power_off.end the engine
does use, then starts the engine's listener (the same build_listeners the
service uses, NotificationFilter included) and times until every message has
been consumed (the last message is a used one, and the endpoint counts the
used ones).  As a baseline measured in the same run, the same queue is
drained by a listener whose endpoint takes every message with no filter.

A third run measures the design nova-ha recommends for busy clouds: the
``nova_ha_forward`` notify driver filters inside Nova's services and sends
only the used notifications to the engine's topic.  The same N
notifications go through a Notifier loaded with that driver (as Nova loads
it) while the engine's listener consumes the forward topic; timed from the
first notification emitted to the last used one taken by the engine.

Target: >= 5,000 notifications/s.

Run: .venv/bin/python bench/listener_throughput.py [--count 50000]
"""

import argparse
import threading
import time
import uuid

from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.notifier import listener

URL = 'rabbit://guest:guest@127.0.0.1:5672/'
USED_EVERY = 100


class CountingEngine:
    def __init__(self, expected):
        self.expected = expected
        self.count = 0
        self.done = threading.Event()
        self.lock = threading.Lock()

    def _take(self, *args):
        with self.lock:
            self.count += 1
            if self.count >= self.expected:
                self.done.set()

    submit_nova_notification = submit_monitor_message = _take


class TakeAllEndpoint:
    def __init__(self, engine):
        self.engine = engine

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        self.engine._take()
        return messaging.NotificationResult.HANDLED


def fill(transport, topic, count, driver='messagingv2'):
    notifier = messaging.Notifier(transport, 'nova-compute:bench',
                                  driver=driver, topics=[topic])
    payload = {'nova_object.name': 'InstanceUpdatePayload',
               'nova_object.data': {'uuid': str(uuid.uuid4()),
                                    'host': 'compute-1',
                                    'state': 'active', 'metadata': {}}}
    start = time.perf_counter()
    for i in range(1, count + 1):
        event_type = ('instance.power_off.end' if i % USED_EVERY == 0
                      else 'instance.update')
        notifier.info({}, event_type, payload)
    return time.perf_counter() - start


def _stop(listeners):
    for item in listeners:
        item.stop()
    for item in listeners:
        item.wait()


def drain(transport, topic, count, filtered):
    if filtered:
        engine = CountingEngine(count // USED_EVERY)
        listeners = listener.build_listeners(transport, engine, topic,
                                             topic + '_unused')
    else:
        engine = CountingEngine(count)
        listeners = [messaging.get_notification_listener(
            transport, [messaging.Target(topic=topic)],
            [TakeAllEndpoint(engine)], executor='threading')]
    start = time.perf_counter()
    for item in listeners:
        item.start()
    if not engine.done.wait(timeout=600):
        raise SystemExit('listener did not drain the queue in 600 s')
    elapsed = time.perf_counter() - start
    _stop(listeners)
    return elapsed


def forwarded(conf, transport, count):
    """Nova emits through nova_ha_forward; the engine takes the used ones."""
    from nova_ha.conf import engine as engine_conf
    engine_conf.register_opts(conf)
    topic = 'nova_ha_bench_fwd_' + uuid.uuid4().hex[:8]
    conf.set_override('topic', topic, group='notification_forward')
    engine = CountingEngine(count // USED_EVERY)
    listeners = listener.build_listeners(transport, engine, topic,
                                         topic + '_unused')
    for item in listeners:
        item.start()
    time.sleep(1.0)   # queues declared before the first message
    start = time.perf_counter()
    emit_s = fill(transport, 'versioned_notifications', count,
                  driver='nova_ha_forward')
    if not engine.done.wait(timeout=600):
        raise SystemExit('the engine did not receive every forwarded one')
    elapsed = time.perf_counter() - start
    _stop(listeners)
    return emit_s, elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=50000)
    args = parser.parse_args()
    conf = cfg.ConfigOpts()
    conf([], project='nova-ha-bench')
    transport = messaging.get_notification_transport(conf, url=URL)
    results = {}
    for name, filtered in (('take-all (baseline)', False),
                           ('nova-ha filtered', True)):
        topic = 'nova_ha_bench_' + uuid.uuid4().hex[:8]
        # Declare the queue before filling it: a listener started and
        # stopped once leaves it in place.
        drain_probe = messaging.get_notification_listener(
            transport, [messaging.Target(topic=topic)],
            [TakeAllEndpoint(CountingEngine(1))], executor='threading')
        drain_probe.start()
        drain_probe.stop()
        drain_probe.wait()
        fill_s = fill(transport, topic, args.count)
        drain_s = drain(transport, topic, args.count, filtered)
        results[name] = args.count / drain_s
        print('%-22s published %d in %.1f s (%.0f/s); consumed in %.2f s: '
              '%.0f notifications/s' % (name, args.count, fill_s,
                                         args.count / fill_s, drain_s,
                                         args.count / drain_s))
    base = results['take-all (baseline)']
    ours = results['nova-ha filtered']
    print('ratio nova-ha / baseline: %.2f; target >= 5000/s: %s' % (
        ours / base, 'met' if ours >= 5000 else 'NOT met'))
    emit_s, elapsed = forwarded(conf, transport, args.count)
    rate = args.count / elapsed
    print('%-22s emitted %d in %.2f s; the engine had all %d used ones '
          'after %.2f s: %.0f notifications/s (%.1fx the filtering '
          'listener); target >= 5000/s: %s' % (
              'nova_ha_forward', args.count, emit_s,
              args.count // USED_EVERY, elapsed, rate, rate / ours,
              'met' if rate >= 5000 else 'NOT met'))
    transport.cleanup()


if __name__ == '__main__':
    main()
