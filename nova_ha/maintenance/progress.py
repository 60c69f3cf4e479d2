"""The drain's progress on stderr (stdout carries the command's output).

On a terminal: one bar redrawn in place.  Otherwise (a log, a pipe): one
line per VM as it finishes, which reads well in a log file.
"""

import collections

from nova_ha.maintenance import drain

WIDTH = 24


def bar(done, total, width=WIDTH):
    """``[#####-----]`` for ``done`` of ``total``."""
    filled = width if not total else int(width * done / total)
    return '[%s%s]' % ('#' * filled, '-' * (width - filled))


def summary(counts):
    return ', '.join('%d %s' % (n, outcome.replace('_', ' '))
                     for outcome, n in sorted(counts.items()) if n)


def describe(result):
    """One VM's result in words."""
    name = result.item.name or result.item.id
    if result.outcome == drain.MOVED:
        return '%s: moved to %s (%.0f s)' % (name, result.target,
                                             result.seconds)
    return '%s: %s: %s' % (name, result.outcome.replace('_', ' '),
                           result.detail)


class ProgressBar(drain.NoProgress):

    def __init__(self, stream):
        self.stream = stream
        self.tty = bool(getattr(stream, 'isatty', lambda: False)())
        self.host = None
        self.total = 0
        self.counts = collections.Counter()
        self.moving_names = []
        self._width = 0

    def begin(self, host, items):
        self.host = host
        self.total = len(items)
        self._draw()

    def moving(self, item):
        self.moving_names.append(item.name or item.id)
        self._draw()

    def done(self, result):
        name = result.item.name or result.item.id
        if name in self.moving_names:
            self.moving_names.remove(name)
        self.counts[result.outcome] += 1
        if self.tty:
            self._line(describe(result))
        else:
            self.stream.write('drain %s %d/%d %s\n' % (
                self.host, sum(self.counts.values()), self.total,
                describe(result)))
        self._draw()

    def end(self):
        if self.tty and self._width:
            self.stream.write('\n')
        self.stream.flush()

    def _draw(self):
        if not self.tty:
            return
        finished = sum(self.counts.values())
        parts = ['drain %s %s %d/%d' % (
            self.host, bar(finished, self.total), finished, self.total)]
        if self.counts:
            parts.append(summary(self.counts))
        if self.moving_names:
            parts.append('| moving: %s' % ', '.join(self.moving_names))
        text = ' '.join(parts)
        self.stream.write('\r' + text.ljust(self._width))
        self._width = len(text)
        self.stream.flush()

    def _line(self, text):
        """A permanent line above the bar."""
        self.stream.write('\r' + text.ljust(self._width) + '\n')
        self._width = 0
