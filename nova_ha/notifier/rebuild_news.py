"""What Nova's rebuild notifications said about VMs being evacuated.

A recovery watching its moves through the API has to ask nova-api again and
again (a list of migrations per check, a server read per ended move), and
nova-api is what the rebuilds it waits for need (measured on the
in-process cloud: polling every 0.5-2 s made 12 evacuations take 18-22 s
where they took 12-14 s with almost no polls).  The compute host that
rebuilds an evacuated VM says so itself: ``instance.rebuild.start`` once
it has claimed the VM, ``.end`` when the VM runs there (or is stopped
there), ``.error`` when it failed.  With the ``nova_ha_forward`` driver in
Nova those reach the engine within moments; the engine puts them on this
board and a recovery takes the news about its own VMs, waking at once.
The API is then polled only rarely, as a safety net for a notification
that never came (see ``FlowSettings.poll_interval_notified``).

The board keeps the latest news per VM, for at most ``capacity`` VMs
(rebuilds nobody watches, a user's rebuild, age out).
"""

import collections
import threading


class RebuildNews:

    def __init__(self, capacity=10000):
        self._capacity = capacity
        self._news = collections.OrderedDict()
        self._changed = threading.Condition()

    def report(self, event):
        """Take an events.Event of type vm.rebuild.*."""
        with self._changed:
            self._news.pop(event.instance, None)
            self._news[event.instance] = event
            while len(self._news) > self._capacity:
                self._news.popitem(last=False)
            self._changed.notify_all()

    def take(self, instances):
        """Remove and return the news about ``instances``, by instance."""
        with self._changed:
            return {i: self._news.pop(i) for i in list(instances)
                    if i in self._news}

    def wait(self, instances, timeout):
        """Wait up to ``timeout`` seconds for news about any of
        ``instances``; True if there is some."""
        wanted = set(instances)
        with self._changed:
            return self._changed.wait_for(
                lambda: not wanted.isdisjoint(self._news), timeout)
