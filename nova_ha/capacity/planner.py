"""How many reserved hosts a segment needs for a target VM availability.

Pure arithmetic; docs/operator/capacity.md states the model with a worked example.

Model (assumptions):

* the segment has ``n`` ordinary hosts carrying the VMs and ``r`` reserved
  hosts; every host fails independently, up ``mtbf`` on average, then down
  ``mttr`` until repaired (exponential times, so the steady-state share of
  time a host is down is ``u = mttr / (mtbf + mttr)``);
* a failure costs each VM of the host ``recovery`` of downtime (detection,
  fencing, evacuation) when a reserved host has room for it: one working
  reserved host absorbs the VMs of ``absorb`` failed hosts (1 by default:
  hosts of equal size, ordinary ones full);
* beyond that room the VMs of the extra failed hosts stay down until their
  host is repaired; a repaired host takes the place of the reserved host
  it consumed, so the number of down hosts is what matters, not their
  history.

At any moment ``D ~ Binomial(n, u)`` ordinary hosts are down and
``J ~ Binomial(r, 1 - u)`` reserved hosts work (independent), so
``S = floor(absorb * J)`` failed hosts' VMs can be absorbed and the VMs of
``max(0, D - S)`` hosts are down.  The expected share of a VM's time lost:

    U(r) = recovery / (mtbf + mttr) + E[max(0, D - S)] / n

(the first term: host failures per unit of time, 1 / (mtbf + mttr), times
the downtime each one costs; the second: the expected share of the VMs
stranded).  Availability ``A(r) = 1 - U(r)``.  The recommendation is the
smallest ``r`` with ``A(r) >= target``; none exists when the recovery
term alone exceeds ``1 - target``.
"""

import dataclasses
import math
from typing import Optional

MINUTES_PER_YEAR = 365.25 * 24 * 60
# A stranded share below this changes no printed digit of an availability.
NEGLIGIBLE = 1e-15

FORMULA = ('U(r) = R/(MTBF+MTTR) + E[max(0, D - floor(c*J))]/N, '
           'D~Bin(N,u), J~Bin(r,1-u), u = MTTR/(MTBF+MTTR); '
           'A(r) = 1 - U(r)')


class PlanError(ValueError):
    """The inputs make no sense; the message says which and why."""


@dataclasses.dataclass(frozen=True)
class PlanInputs:
    hosts: int                  # n: ordinary hosts carrying VMs
    mtbf: float                 # mean time between failures of a host
    mttr: float                 # mean time to repair a host (same unit)
    recovery: float             # downtime per failure when absorbed (same)
    target: float               # wanted VM availability, 0..1
    absorb: float = 1.0         # failed hosts one reserved host absorbs

    def validate(self):
        if self.hosts < 1:
            raise PlanError('a segment needs at least one host, not %d'
                            % self.hosts)
        for name in ('mtbf', 'mttr'):
            if not getattr(self, name) > 0:
                raise PlanError('%s must be positive' % name.upper())
        if self.recovery < 0:
            raise PlanError('recovery time cannot be negative')
        if self.recovery >= self.mttr:
            raise PlanError('recovery time (%g) must be shorter than MTTR '
                            '(%g): a VM waiting for its host\'s repair is '
                            'not recovered' % (self.recovery, self.mttr))
        if not 0 < self.target < 1:
            raise PlanError('target availability must be between 0 and '
                            '100 %% (exclusive), not %r' % self.target)
        if not self.absorb > 0:
            raise PlanError('absorb (failed hosts per reserved host) must '
                            'be positive')
        return self

    @property
    def host_unavailability(self):
        return self.mttr / (self.mtbf + self.mttr)

    @property
    def recovery_unavailability(self):
        return self.recovery / (self.mtbf + self.mttr)


@dataclasses.dataclass(frozen=True)
class PlanRow:
    reserved: int
    absorbable: int               # floor(absorb * r): failed hosts covered
    shortfall_probability: float  # P(D > S): capacity short at a moment
    stranded: float               # E[max(0, D - S)] / n
    recovery: float               # recovery / (mtbf + mttr)
    availability: float
    meets_target: bool

    @property
    def unavailability(self):
        return self.stranded + self.recovery

    @property
    def downtime_minutes_per_year(self):
        return self.unavailability * MINUTES_PER_YEAR


@dataclasses.dataclass(frozen=True)
class Plan:
    inputs: PlanInputs
    rows: tuple
    recommended: Optional[int]
    # Availability as r grows without bound: 1 - the recovery term.
    ceiling: float


def binomial_pmf(n, p):
    """[P(X = k) for k in 0..n], X ~ Binomial(n, p).

    In logarithms, so segments of thousands of hosts neither overflow
    (comb) nor underflow (p ** k) on the way.
    """
    if p <= 0.0 or p >= 1.0:
        certain = 0 if p <= 0.0 else n
        return [1.0 if k == certain else 0.0 for k in range(n + 1)]
    log_p, log_q = math.log(p), math.log1p(-p)
    log_n = math.lgamma(n + 1)
    return [math.exp(log_n - math.lgamma(k + 1) - math.lgamma(n - k + 1)
                     + k * log_p + (n - k) * log_q)
            for k in range(n + 1)]


def evaluate(inputs, reserved):
    """One row of the table: the model's numbers with ``reserved`` hosts."""
    u = inputs.host_unavailability
    down = binomial_pmf(inputs.hosts, u)
    working = binomial_pmf(reserved, 1 - u)
    excess = 0.0
    short = 0.0
    for j, p_j in enumerate(working):
        absorbable = math.floor(inputs.absorb * j)
        for d, p_d in enumerate(down):
            if d > absorbable:
                excess += p_j * p_d * (d - absorbable)
                short += p_j * p_d
    stranded = excess / inputs.hosts
    recovery = inputs.recovery_unavailability
    availability = 1.0 - stranded - recovery
    return PlanRow(reserved=reserved,
                   absorbable=math.floor(inputs.absorb * reserved),
                   shortfall_probability=short, stranded=stranded,
                   recovery=recovery, availability=availability,
                   meets_target=availability >= inputs.target)


def plan(inputs, max_reserved=None):
    """Rows for r = 0, 1, ... up to the first r meeting the target and one
    more, to show the margin.  When the target is out of reach, up to r = n
    or until more reserved hosts no longer change the result (nothing left
    stranded).  ``max_reserved`` caps the table in every case."""
    inputs.validate()
    rows = []
    recommended = None
    reserved = 0
    while max_reserved is None or reserved <= max_reserved:
        row = evaluate(inputs, reserved)
        rows.append(row)
        if recommended is None and row.meets_target:
            recommended = reserved
        if recommended is not None:
            if reserved > recommended:
                break
        elif reserved >= inputs.hosts or row.stranded < NEGLIGIBLE:
            break
        reserved += 1
    return Plan(inputs=inputs, rows=tuple(rows), recommended=recommended,
                ceiling=1.0 - inputs.recovery_unavailability)
