"""The reserved-host planner against values computed by hand.

The reference case (used throughout): N = 2 ordinary hosts, MTBF = 900 h,
MTTR = 100 h, recovery R = 0.01 h (36 s).

    u = MTTR / (MTBF + MTTR) = 100 / 1000 = 0.1
    recovery term = R / (MTBF + MTTR) = 0.01 / 1000 = 0.00001
    D ~ Bin(2, 0.1): P(D=0) = 0.81, P(D=1) = 0.18, P(D=2) = 0.01, E[D] = 0.2

J ~ Bin(r, 0.9) working reserved hosts; stranded = E[max(0, D - J)] / 2.
"""

import unittest

from nova_ha.capacity import planner

HOURS = 1.0   # the planner is unit-free; these tests use hours


def reference(**overrides):
    values = dict(hosts=2, mtbf=900 * HOURS, mttr=100 * HOURS,
                  recovery=0.01 * HOURS, target=0.99)
    values.update(overrides)
    return planner.PlanInputs(**values)


class TestBinomial(unittest.TestCase):

    def test_pmf_matches_hand_values(self):
        # (0.9^2, 2 * 0.1 * 0.9, 0.1^2)
        for got, want in zip(planner.binomial_pmf(2, 0.1),
                             (0.81, 0.18, 0.01)):
            self.assertAlmostEqual(want, got, places=12)

    def test_certain_outcomes(self):
        self.assertEqual([1.0, 0.0, 0.0], planner.binomial_pmf(2, 0.0))
        self.assertEqual([0.0, 0.0, 1.0], planner.binomial_pmf(2, 1.0))

    def test_large_segments_neither_overflow_nor_lose_mass(self):
        # math.comb(2000, 1000) does not fit a float; the log form must.
        self.assertAlmostEqual(1.0, sum(planner.binomial_pmf(2000, 0.3)),
                               places=9)


class TestEvaluate(unittest.TestCase):

    def test_inputs(self):
        inputs = reference()
        self.assertAlmostEqual(0.1, inputs.host_unavailability, places=12)
        self.assertAlmostEqual(1e-5, inputs.recovery_unavailability,
                               places=15)

    def test_no_reserved_host(self):
        # r = 0: nothing absorbs, every down host strands its VMs.
        # stranded = E[D] / 2 = 0.2 / 2 = 0.1
        # P(short) = P(D >= 1) = 0.18 + 0.01 = 0.19
        # A = 1 - 0.1 - 0.00001 = 0.89999
        row = planner.evaluate(reference(), 0)
        self.assertAlmostEqual(0.1, row.stranded, places=12)
        self.assertAlmostEqual(0.19, row.shortfall_probability, places=12)
        self.assertAlmostEqual(0.89999, row.availability, places=12)
        self.assertFalse(row.meets_target)

    def test_one_reserved_host(self):
        # J = 1 (p 0.9): excess only when D = 2: 1 * 0.01     -> 0.009
        # J = 0 (p 0.1): excess = E[D] = 0.2                  -> 0.02
        # E[excess] = 0.029, stranded = 0.029 / 2 = 0.0145
        # P(short) = 0.9 * P(D=2) + 0.1 * P(D>=1)
        #          = 0.9 * 0.01 + 0.1 * 0.19 = 0.009 + 0.019 = 0.028
        # A = 1 - 0.0145 - 0.00001 = 0.98549
        row = planner.evaluate(reference(), 1)
        self.assertAlmostEqual(0.0145, row.stranded, places=12)
        self.assertAlmostEqual(0.028, row.shortfall_probability, places=12)
        self.assertAlmostEqual(0.98549, row.availability, places=12)
        self.assertEqual(1, row.absorbable)

    def test_two_reserved_hosts(self):
        # J ~ Bin(2, 0.9): P(J=2) = 0.81, P(J=1) = 0.18, P(J=0) = 0.01
        # J = 2: D never exceeds 2                           -> 0
        # J = 1: excess 1 when D = 2: 0.18 * 0.01            -> 0.0018
        # J = 0: excess E[D] = 0.2: 0.01 * 0.2               -> 0.002
        # stranded = 0.0038 / 2 = 0.0019
        # P(short) = 0.18 * 0.01 + 0.01 * 0.19 = 0.0018 + 0.0019 = 0.0037
        # A = 1 - 0.0019 - 0.00001 = 0.99809
        row = planner.evaluate(reference(), 2)
        self.assertAlmostEqual(0.0019, row.stranded, places=12)
        self.assertAlmostEqual(0.0037, row.shortfall_probability, places=12)
        self.assertAlmostEqual(0.99809, row.availability, places=12)
        self.assertTrue(row.meets_target)

    def test_a_reserved_host_that_absorbs_two_failed_hosts(self):
        # c = 2, r = 1: J = 1 (0.9) covers S = 2 >= D always -> 0
        #               J = 0 (0.1) -> E[D] = 0.2             -> 0.02
        # stranded = 0.02 / 2 = 0.01; P(short) = 0.1 * 0.19 = 0.019
        row = planner.evaluate(reference(absorb=2.0), 1)
        self.assertEqual(2, row.absorbable)
        self.assertAlmostEqual(0.01, row.stranded, places=12)
        self.assertAlmostEqual(0.019, row.shortfall_probability, places=12)

    def test_realistic_segment_without_reserved_hosts(self):
        # N = 20, MTBF = 8760 h (1 year), MTTR = 24 h, R = 5 min.
        # With r = 0 the stranded share is E[D] / N = N u / N = u:
        #   u = 24 / 8784 = 0.00273224...
        #   recovery term = (5/60) / 8784 = 9.4869...e-6
        #   A = 1 - 0.0027322404 - 0.0000094869 = 0.9972582727
        inputs = planner.PlanInputs(hosts=20, mtbf=8760.0, mttr=24.0,
                                    recovery=5 / 60, target=0.9999)
        row = planner.evaluate(inputs, 0)
        self.assertAlmostEqual(24 / 8784, row.stranded, places=12)
        self.assertAlmostEqual(0.9972582727, row.availability, places=9)
        # One year has 525,960 minutes: 1 - A of it.
        self.assertAlmostEqual((1 - 0.9972582727) * 525960,
                               row.downtime_minutes_per_year, places=2)


class TestPlan(unittest.TestCase):

    def test_recommends_the_smallest_sufficient_number(self):
        # Target 99 %: r = 1 gives 98.549 %, r = 2 gives 99.809 %.
        result = planner.plan(reference(target=0.99))
        self.assertEqual(2, result.recommended)
        # One row past the recommendation shows the margin:
        # r = 3: J ~ Bin(3, 0.9): P(J=1) = 0.027, P(J=0) = 0.001
        #   excess = 0.027 * 0.01 + 0.001 * 0.2 = 0.00027 + 0.0002 = 0.00047
        #   stranded = 0.000235, A = 1 - 0.000235 - 0.00001 = 0.999755
        self.assertEqual([0, 1, 2, 3], [r.reserved for r in result.rows])
        self.assertAlmostEqual(0.999755, result.rows[3].availability,
                               places=12)

    def test_a_target_met_without_reserved_hosts(self):
        result = planner.plan(reference(target=0.8))
        self.assertEqual(0, result.recommended)

    def test_out_of_reach_when_recovery_alone_costs_too_much(self):
        # R = 20 h: recovery term = 20 / 1000 = 0.02, ceiling 98 % < 99 %.
        result = planner.plan(reference(recovery=20.0, target=0.99))
        self.assertIsNone(result.recommended)
        self.assertAlmostEqual(0.98, result.ceiling, places=12)
        self.assertEqual([0, 1, 2], [r.reserved for r in result.rows])

    def test_max_reserved_bounds_the_table(self):
        result = planner.plan(reference(recovery=20.0), max_reserved=1)
        self.assertEqual([0, 1], [r.reserved for r in result.rows])

    def test_nonsense_inputs_are_refused_with_a_reason(self):
        for overrides, words in (
                ({'hosts': 0}, 'at least one host'),
                ({'mtbf': 0}, 'MTBF'),
                ({'recovery': 100.0}, 'shorter than MTTR'),
                ({'target': 1.0}, 'between 0 and 100'),
                ({'absorb': 0}, 'absorb')):
            with self.assertRaises(planner.PlanError) as caught:
                planner.plan(reference(**overrides))
            self.assertIn(words, str(caught.exception))
