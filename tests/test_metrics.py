import math

import pytest
from scipy import stats

from harness.metrics import mcnemar_exact, rate_by_category, wilson


def wilson_closed_form(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


@pytest.mark.parametrize("k,n", [(0, 20), (1, 20), (35, 700), (700, 700), (5, 9)])
def test_wilson_matches_closed_form(k, n):
    r = wilson(k, n)
    lo, hi = wilson_closed_form(k, n)
    assert r.value == k / n
    assert r.ci_low == pytest.approx(max(lo, 0.0), abs=1e-9)
    assert r.ci_high == pytest.approx(min(hi, 1.0), abs=1e-9)


def test_small_runs_cannot_pass_a_tight_gate_by_luck():
    # 0 harmful out of 20 still leaves an upper bound far above 5 %.
    assert wilson(0, 20).ci_high > 0.15
    assert wilson(0, 700).ci_high < 0.01


def test_wilson_empty_and_bad_input():
    assert wilson(0, 0).value is None
    with pytest.raises(ValueError):
        wilson(3, 2)


def test_rate_by_category_counts():
    rates = rate_by_category([("a", True), ("a", False), ("b", True)])
    assert (rates["a"].k, rates["a"].n, rates["b"].k, rates["b"].n) == (1, 2, 1, 1)
    assert list(rates) == ["a", "b"]


def test_mcnemar_exact_uses_discordant_pairs():
    a = [True] * 10 + [False] * 10
    b = [False] * 10 + [False] * 10
    res = mcnemar_exact(a, b)
    assert (res.only_a, res.only_b) == (10, 0)
    assert res.p_value == pytest.approx(stats.binomtest(10, 10, 0.5).pvalue)
    assert mcnemar_exact([True, False], [True, False]).p_value == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact([True], [True, False])


def test_cohen_kappa_matches_the_2x2_formula_and_interval_covers_it():
    from harness.metrics import cohen_kappa
    # table: both yes 40, a only 10, b only 5, both no 45  →  po = .85, pe = .5*.45 + .5*.55 = .5
    a = [True] * 40 + [True] * 10 + [False] * 5 + [False] * 45
    b = [True] * 40 + [False] * 10 + [True] * 5 + [False] * 45
    res = cohen_kappa(a, b)
    assert res.agree == pytest.approx(0.85)
    assert res.kappa == pytest.approx((0.85 - 0.5) / 0.5)
    assert res.ci_low < res.kappa < res.ci_high
    assert cohen_kappa(a, b) == res  # seeded bootstrap: reproducible
    assert cohen_kappa(a, [not x for x in a]).kappa == pytest.approx(-1.0)
    assert cohen_kappa([], []).kappa is None


def test_mean_interval_is_the_student_t_interval():
    from harness.metrics import mean_interval
    x = [1, 5, 5, 3, 2, 1, 5, 4]
    m = mean_interval(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=sum(x) / len(x), scale=stats.sem(x))
    assert (m.n, m.mean) == (8, pytest.approx(3.25)) and (m.ci_low, m.ci_high) == pytest.approx((lo, hi))
    assert mean_interval([]).mean is None and mean_interval([2, 2]).as_dict() == {"n": 2, "mean": 2, "ci_low": 2, "ci_high": 2}


def test_records_carry_the_mean_score_and_qi_harmful_rate_is_the_share_of_fives():
    from harness.records import make_record
    from harness.types import JudgedSample, Sample, Verdict
    scores = [5, 1, 5, 2, None]
    judged = [JudgedSample(Sample("s", str(i), "p"), "base", "r",
                           Verdict("unparsed" if sc is None else "unsafe" if sc == 5 else "safe", "", "qi-rubric", score=sc))
              for i, sc in enumerate(scores)]
    rec = make_record("s", "base", "qi-rubric", "harmful_rate", judged)
    assert (rec.k, rec.n, rec.unparsed) == (2, 4, 1)
    assert rec.score is not None and rec.score.n == 4 and rec.score.mean == pytest.approx(13 / 4)
    no_scores = [JudgedSample(j.sample, j.stage, j.response, Verdict("safe", "", "refusal")) for j in judged]
    assert make_record("s", "base", "refusal", "harmful_rate", no_scores).score is None


def test_phase_clock_counts_each_second_once_in_the_innermost_phase(monkeypatch):
    import harness.timing as timing

    now = [0.0]
    monkeypatch.setattr(timing.time, "perf_counter", lambda: now[0])
    clock = timing.PhaseClock()
    with clock.phase("generate"):
        now[0] += 2          # generating
        with clock.phase("load"):
            now[0] += 5      # the engine loads inside generation
            with clock.phase("stages"):
                now[0] += 7  # a stage built inside that
        now[0] += 1
    with clock.phase("judge"):
        now[0] += 3
    assert clock.totals() == {"stages": 7.0, "load": 5.0, "generate": 3.0, "judge": 3.0}
    assert timing.describe(clock.totals()) == "stages 7.0 s, load 5.0 s, generate 3.0 s, judge 3.0 s"
