"""The incident timeline as a Gantt-like PNG (matplotlib, Agg backend: no
display needed, safe on servers)."""

import datetime
import logging

from nova_ha.reports import availability

STATUS_COLOURS = {
    'done': '#2e7d32',
    'failed': '#c62828',
    'started': '#ef6c00',
}
OTHER_COLOUR = '#757575'


def draw_timeline(incident, rows, path, now=None):
    """Write ``rows`` (timeline.TimelineRow) of ``incident`` to ``path``.

    Rows still running are drawn up to ``now`` (default: the incident's
    last update), hatched.
    """
    import matplotlib
    matplotlib.use('Agg', force=True)
    # Its first run in a home directory announces its font cache at INFO,
    # which the CLI would show.
    logging.getLogger('matplotlib').setLevel(logging.WARNING)
    from matplotlib import patches
    from matplotlib import pyplot

    origin = availability.failure_time(incident)
    end_of_open = now or incident.updated_at
    figure, axes = pyplot.subplots(figsize=(11, 1.6 + 0.42 * len(rows)))
    try:
        longest = 0.0
        for index, row in enumerate(rows):
            end = row.end or end_of_open
            width = max((end - row.start).total_seconds(), 0.0)
            colour = STATUS_COLOURS.get(row.status, OTHER_COLOUR)
            running = row.end is None
            axes.barh(index, width, left=row.at_s, height=0.6,
                      color=colour, alpha=0.35 if row.step == 'total' else 1,
                      # matplotlib draws hatching in the edge colour
                      hatch='//' if running else None,
                      edgecolor='white' if running else colour)
            text = ('%.2f s' % row.duration_s if row.duration_s is not None
                    else 'running')
            axes.text(row.at_s + width, index, '  ' + text, va='center',
                      fontsize=8)
            longest = max(longest, row.at_s + width)
        axes.set_yticks(range(len(rows)))
        axes.set_yticklabels([_short(row.label) for row in rows],
                             fontsize=8)
        axes.invert_yaxis()
        axes.set_xlim(0, longest * 1.15 or 1.0)
        axes.axvline(0, color='black', linewidth=0.8)
        axes.grid(axis='x', linestyle=':', linewidth=0.6)
        axes.set_xlabel('seconds after the failure (%s UTC)' %
                        _utc(origin))
        axes.set_title('%s\nhost %s, state %s' % (
            incident.key, incident.host or '-', incident.state), fontsize=10)
        # Upper right: the early steps (detection, fencing) sit top left
        # and the long bars lower down, so that corner stays free.
        axes.legend(handles=[patches.Patch(color=c, label=s) for s, c in
                             sorted(STATUS_COLOURS.items())],
                    loc='upper right', fontsize=8)
        figure.tight_layout()
        figure.savefig(path, format='png', dpi=110)
    finally:
        pyplot.close(figure)


def _short(label, limit=48):
    return label if len(label) <= limit else label[:limit - 1] + '\u2026'


def _utc(moment):
    return moment.astimezone(datetime.timezone.utc).strftime(
        '%Y-%m-%d %H:%M:%S')
