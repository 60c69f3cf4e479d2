"""The engine loop's pacing: events, Nova's news of moves and timers."""

import threading
import types
import time

from nova_ha.engine import daemon as engine_daemon


class _Looks:
    """Stands in for the replica: records when the loop looks."""

    wants_another_look = False
    state = types.SimpleNamespace(incidents={})

    def __init__(self, wake_in):
        self.at = []
        self.wake_in = wake_in
        self.looked = threading.Event()

    def tick(self, now):
        self.at.append(now)
        self.looked.set()
        return now + self.wake_in


def _daemon(wake_in=60.0):
    d = engine_daemon.Daemon(env=None, settings=None, min_gap=0.05,
                             news_gap=0.6)
    d.replica = _Looks(wake_in)
    return d


def _next_look(d, poke):
    d.replica.looked.wait(5)
    d.replica.looked.clear()
    poked = time.time()
    poke()
    assert d.replica.looked.wait(5)
    return d.replica.at[-1] - poked


def test_an_event_is_looked_at_after_the_short_gap():
    d = _daemon().start()
    try:
        assert _next_look(d, d.wake) < 0.4
    finally:
        d.stop(5)


def test_news_of_moves_wait_the_longer_gap():
    d = _daemon().start()
    try:
        assert _next_look(d, d.news) >= 0.5
    finally:
        d.stop(5)


def test_a_timer_of_the_core_is_looked_at_without_a_gap():
    d = _daemon(wake_in=0.2).start()
    try:
        d.replica.looked.wait(5)
        time.sleep(1.0)
        gaps = [b - a for a, b in zip(d.replica.at, d.replica.at[1:])]
        assert gaps and max(gaps) < 0.45, gaps
    finally:
        d.stop(5)
