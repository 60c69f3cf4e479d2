"""``nova-ha capacity check`` and ``nova-ha capacity plan`` (cliff Listers,
so ``-f table|json|yaml|csv|value`` all work; also under ``openstack ha``).

Both exit with status 2 (and a WARNING row or message) when a segment is
below its need, so a cron job or a monitoring probe can alert on it.
"""

import argparse
import re

from cliff import lister
from osc_lib.cli import format_columns

from nova_ha.capacity import packing
from nova_ha.capacity import planner
from nova_ha.capacity import reader as capacity_reader
from nova_ha.cmd import cli

#: Exit status of a command whose answer is "below need" (1: it failed).
WARNING_EXIT = 2

_DURATION = re.compile(r'^\s*(\d+(?:\.\d+)?)\s*([smhdwy])\s*$', re.I)
_SECONDS = {'s': 1, 'm': 60, 'h': 3600, 'd': 86400, 'w': 604800,
            'y': 365.25 * 86400}
DURATION_HELP = 'a number with a unit: s, m, h, d, w or y (e.g. 5m, 2d, 5y)'


def duration(text):
    """Seconds from ``5m``, ``24h``, ``5y``... (argparse type)."""
    match = _DURATION.match(text or '')
    if not match:
        raise argparse.ArgumentTypeError(
            '%r is not a duration: expected %s' % (text, DURATION_HELP))
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


def availability(text):
    """0..1 from ``99.99``, ``99.99%`` or ``0.9999`` (argparse type)."""
    value = (text or '').strip()
    percent = value.endswith('%')
    try:
        number = float(value.rstrip('%'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            '%r is not an availability: use a percentage such as 99.99 '
            'or a fraction such as 0.9999' % text) from None
    if percent or number > 1:
        number /= 100.0
    if not 0 < number < 1:
        raise argparse.ArgumentTypeError(
            '%r: the availability must be above 0 and below 100 %%' % text)
    return number


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError('%r is not a whole number >= 0'
                                         % text)
    return value


def _sig(value, digits=4):
    """A float rounded to ``digits`` significant digits: short in tables,
    still a number in JSON."""
    return float('%.*g' % (digits, value))


def add_model_arguments(parser, required):
    """The planner's inputs (shared by ``plan`` and ``check``)."""
    group = parser.add_argument_group(
        'availability model (docs/operator/capacity.md)')
    group.add_argument('--mtbf', type=duration, required=required,
                       metavar='DURATION',
                       help='mean time between failures of one host '
                            '(%s)' % DURATION_HELP)
    group.add_argument('--mttr', type=duration, required=required,
                       metavar='DURATION',
                       help='mean time to repair a failed host and bring '
                            'it back (%s)' % DURATION_HELP)
    group.add_argument('--recovery-time', type=duration, default=300.0,
                       metavar='DURATION',
                       help='downtime of a VM whose host failed when there '
                            'is room for it: detection, fencing, evacuation '
                            '(default 5m; `nova-ha report availability` '
                            'measures it)')
    group.add_argument('--target', type=availability, metavar='PERCENT',
                       default=None if not required else 0.9999,
                       help='wanted VM availability, e.g. 99.99 (default '
                            '99.99 for plan)')
    group.add_argument('--absorb', type=float, default=1.0, metavar='C',
                       help='failed hosts whose VMs one reserved host can '
                            'take (default 1: hosts of equal size, full)')


def plan_inputs(parsed_args, hosts):
    return planner.PlanInputs(
        hosts=hosts, mtbf=parsed_args.mtbf, mttr=parsed_args.mttr,
        recovery=parsed_args.recovery_time, target=parsed_args.target,
        absorb=parsed_args.absorb).validate()


class _ExitStatus:
    """A Lister whose exit status says "below need" (WARNING_EXIT)."""

    exit_status = 0

    def run(self, parsed_args):
        result = super().run(parsed_args)
        return self.exit_status or result


def _read_cloud(app_, segments=None, hosts=()):
    reader = capacity_reader.CapacityReader(cli.sdk_connection(app_))
    return reader.cloud(segments, hosts)


def _host_counts(cloud, segment):
    """(ordinary hosts, reserved hosts able to receive VMs) of a segment:
    the planner's N and the r the segment has now."""
    members = cloud.segment_hosts(segment)
    return (sum(1 for h in members if not h.view.reserved),
            sum(1 for h in members if h.view.reserved and h.can_receive))


class CheckCapacity(_ExitStatus, lister.Lister):
    """Can each segment absorb the failure of its largest hosts?

    Simulates the failure of the K hosts whose HA VMs take the most of the
    segment (or of the hosts given with --fail-host), moving the VMs the
    engine would move, in its order, to the hosts Nova's scheduler would
    pick, with placement's capacity rules. A segment whose VMs do not all
    find a host is a WARNING row, and so is one with fewer reserved hosts
    than the availability model needs (with --mtbf/--mttr/--target); the
    command then exits with status 2.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        parser.add_argument('--segment', action='append', metavar='NAME',
                            help='only this segment (repeatable)')
        parser.add_argument('--failures', type=_non_negative_int, default=1,
                            metavar='K',
                            help='how many hosts fail at once, on top of '
                                 'those already down (default 1)')
        parser.add_argument('--fail-host', action='append', metavar='HOST',
                            help='fail these hosts instead of the largest '
                                 '(repeatable; what-if)')
        parser.add_argument('--vms', action='store_true',
                            help='one row per evacuated VM: where it would '
                                 'land, or why nowhere')
        parser.add_argument('--failover-weight-multiplier', type=float,
                            metavar='M',
                            help='HAFailoverWeigher multiplier the '
                                 'scheduler uses (default: [ha_scheduler] '
                                 'failover_weight_multiplier)')
        parser.add_argument('--ram-weight-multiplier', type=float,
                            default=1.0, metavar='M',
                            help="Nova's [filter_scheduler] "
                                 "ram_weight_multiplier (default 1.0)")
        add_model_arguments(parser, required=False)
        return parser

    def take_action(self, parsed_args):
        model_wanted = parsed_args.mtbf is not None or \
            parsed_args.mttr is not None or parsed_args.target is not None
        if model_wanted and None in (parsed_args.mtbf, parsed_args.mttr,
                                     parsed_args.target):
            raise planner.PlanError('the availability model needs --mtbf, '
                                    '--mttr and --target together')
        multiplier = parsed_args.failover_weight_multiplier
        if multiplier is None:
            multiplier = cli.config_of(self.app).ha_scheduler \
                .failover_weight_multiplier
        weights = packing.Weights(
            failover_weight_multiplier=multiplier,
            ram_weight_multiplier=parsed_args.ram_weight_multiplier)
        fail_hosts = parsed_args.fail_host or []
        cloud = _read_cloud(self.app, parsed_args.segment, fail_hosts)
        # The reader loaded the segments asked for (by name or through
        # --fail-host), or all of them.
        segments = sorted(cloud.segments())
        checks = []
        for segment in segments:
            names = {h.name for h in cloud.segment_hosts(segment)}
            check = packing.check_segment(
                cloud, segment, parsed_args.failures,
                hosts=[h for h in fail_hosts if h in names] or None,
                weights=weights)
            need = None
            ordinary, _have = _host_counts(cloud, segment)
            if model_wanted and ordinary:
                need = planner.plan(plan_inputs(parsed_args, ordinary))
            checks.append((check, need))
        unmatched = sorted(set(fail_hosts) - {
            h for check, _ in checks for h in check.hosts})
        if unmatched:
            raise packing.UnknownHosts('%s: in none of the checked '
                                       'segments' % ', '.join(unmatched))
        rows = [(check, need) + _verdict(check, need)
                for check, need in checks]
        if any(verdict == packing.WARNING for _, _, verdict, _ in rows):
            self.exit_status = WARNING_EXIT
        if parsed_args.vms:
            return self._vm_rows(checks)
        return self._segment_rows(rows, model_wanted)

    @staticmethod
    def _segment_rows(rows, model_wanted):
        headers = ('Segment', 'Method', 'Hosts', 'Reserved', 'Failed',
                   'Evacuated', 'Placed', 'Unplaced')
        if model_wanted:
            headers += ('Reserved needed', 'Availability %')
        headers += ('Verdict', 'Notes')
        out = []
        for check, need, verdict, notes in rows:
            simulation = check.simulation
            placements = simulation.placements if simulation else ()
            unplaced = simulation.unplaced if simulation else ()
            row = (check.segment, check.recovery_method, len(check.hosts),
                   format_columns.ListColumn(check.reserved_hosts),
                   format_columns.ListColumn(
                       ['%s (down)' % h for h in check.already_down] +
                       list(check.chosen)),
                   len(placements), len(placements) - len(unplaced),
                   format_columns.ListColumn(
                       [p.vm_name or p.vm_id for p in unplaced]))
            if model_wanted and need is None:
                row += (None, None)
            elif model_wanted:
                current = _row_for(need, len(check.reserved_hosts))
                row += (need.recommended,
                        _sig(current.availability * 100, 8))
            out.append(row + (verdict, format_columns.ListColumn(notes)))
        return headers, out

    @staticmethod
    def _vm_rows(checks):
        headers = ('Segment', 'Failed host', 'VM', 'Name', 'Priority',
                   'Target', 'Why')
        out = []
        for check, _need in checks:
            if check.simulation is None:
                continue
            for p in check.simulation.placements:
                out.append((check.segment, p.source, p.vm_id, p.vm_name,
                            p.priority, p.target or '', p.reason))
        return headers, out


def _row_for(plan, reserved):
    """The plan's row for ``reserved`` hosts (computed if not listed)."""
    for row in plan.rows:
        if row.reserved == reserved:
            return row
    return planner.evaluate(plan.inputs, reserved)


def _verdict(check, need):
    """(verdict, notes) of one segment, the model's need included."""
    notes = list(check.notes)
    verdict = check.verdict
    if need is not None and verdict != packing.DISABLED:
        have = len(check.reserved_hosts)
        if need.recommended is None:
            verdict = packing.WARNING
            notes.append('target %.4f %% is out of reach: the recovery '
                         'time alone allows at most %.6f %%' % (
                             need.inputs.target * 100, need.ceiling * 100))
        elif have < need.recommended:
            verdict = packing.WARNING
            notes.append('%d reserved hosts, the model needs %d for '
                         '%.4f %%' % (have, need.recommended,
                                      need.inputs.target * 100))
    return verdict, notes


class PlanCapacity(_ExitStatus, lister.Lister):
    """How many reserved hosts a segment needs for a VM availability target.

    One row per number of reserved hosts r, with the model's predicted VM
    availability; the smallest r meeting the target is marked
    "recommended". The model and its assumptions are in docs/operator/capacity.md:
    U(r) = R/(MTBF+MTTR) + E[max(0, D - floor(c*J))]/N with D~Bin(N,u)
    down ordinary hosts, J~Bin(r,1-u) working reserved hosts and
    u = MTTR/(MTBF+MTTR). With --segment, N and the current reserved hosts
    come from the cloud, and a segment below its need exits with status 2.
    """

    def get_parser(self, prog_name):
        parser = super().get_parser(prog_name)
        where = parser.add_mutually_exclusive_group(required=True)
        where.add_argument('--hosts', type=_non_negative_int, metavar='N',
                           help='ordinary hosts in the segment (those '
                                'carrying VMs)')
        where.add_argument('--segment', metavar='NAME',
                           help='take N and the current reserved hosts '
                                'from this segment of the cloud')
        parser.add_argument('--max-reserved', type=_non_negative_int,
                            metavar='R',
                            help='list up to R reserved hosts (default: '
                                 'until the target is met, plus one)')
        add_model_arguments(parser, required=True)
        return parser

    def take_action(self, parsed_args):
        have = None
        hosts = parsed_args.hosts
        if parsed_args.segment:
            cloud = _read_cloud(self.app, [parsed_args.segment])
            hosts, have = _host_counts(cloud, parsed_args.segment)
        result = planner.plan(plan_inputs(parsed_args, hosts),
                              parsed_args.max_reserved)
        self._summarise(parsed_args, result, have)
        headers = ('Reserved', 'Covers failures', 'P(capacity short)',
                   'Stranded', 'Recovery', 'Availability %',
                   'Downtime min/year', 'Meets target', 'Recommended')
        rows = [(row.reserved, row.absorbable,
                 _sig(row.shortfall_probability), _sig(row.stranded),
                 _sig(row.recovery), _sig(row.availability * 100, 8),
                 _sig(row.downtime_minutes_per_year),
                 row.meets_target, row.reserved == result.recommended)
                for row in result.rows]
        return headers, rows

    def _summarise(self, parsed_args, result, have):
        """The model and the verdict, on stderr (stdout stays the table or
        document the format asked for)."""
        inputs = result.inputs
        lines = ['model: %s' % planner.FORMULA,
                 'inputs: N=%d, MTBF=%gh, MTTR=%gh, R=%gs, c=%g, u=%.6g, '
                 'target %.6g %%' % (
                     inputs.hosts, inputs.mtbf / 3600, inputs.mttr / 3600,
                     inputs.recovery, inputs.absorb,
                     inputs.host_unavailability, inputs.target * 100)]
        if result.recommended is None:
            self.exit_status = WARNING_EXIT
            lines.append('WARNING: the target is out of reach: recovery '
                         'alone allows at most %.6f %%; shorten the '
                         'recovery or the repair time' % (
                             result.ceiling * 100))
        else:
            lines.append('recommended: %d reserved host(s)'
                         % result.recommended)
            if have is not None and have < result.recommended:
                self.exit_status = WARNING_EXIT
                lines.append('WARNING: segment %s has %d reserved host(s), '
                             'below the %d needed' % (
                                 parsed_args.segment, have,
                                 result.recommended))
            elif have is not None:
                lines.append('segment %s has %d reserved host(s): enough'
                             % (parsed_args.segment, have))
        self.app.stderr.write('\n'.join(lines) + '\n')
