"""Rates with 95 % intervals, and paired tests between stages. scipy does the statistics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from scipy import stats

if TYPE_CHECKING:
    from numpy.typing import ArrayLike, NDArray

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    value: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"n": self.n, "k": self.k, "value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


def wilson(k: int, n: int, confidence: float = CONFIDENCE) -> Rate:
    """Rate k/n with its Wilson score interval (good near 0 and 1, unlike the normal interval)."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return Rate(0, 0, None, None, None)
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    return Rate(k, n, k / n, float(ci.low), float(ci.high))


@dataclass(frozen=True)
class Mean:
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"n": self.n, "mean": self.mean, "ci_low": self.ci_low, "ci_high": self.ci_high}


def mean_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> Mean:
    """Mean with its Student-t interval (a judge's 1–5 or 0–100 scores: bounded, n in the hundreds)."""
    import numpy as np
    n = len(values)
    if n == 0:
        return Mean(0, None, None, None)
    x = np.asarray(values, dtype=float)
    m = float(x.mean())
    if n < 2 or (x == x[0]).all():
        return Mean(n, m, m, m)
    lo, hi = stats.t.interval(confidence, n - 1, loc=m, scale=stats.sem(x))
    return Mean(n, m, float(lo), float(hi))


def rate_by_category(flags: Iterable[tuple[str, bool]]) -> dict[str, Rate]:
    """flags: (category, counted?) per sample → a Wilson rate per category, sorted by name."""
    counts: dict[str, list[int]] = {}
    for cat, hit in flags:
        c = counts.setdefault(cat, [0, 0])
        c[0] += int(hit)
        c[1] += 1
    return {cat: wilson(k, n) for cat, (k, n) in sorted(counts.items())}


@dataclass(frozen=True)
class Paired:
    """Exact McNemar test on paired binary outcomes (same prompts, two stages)."""

    n: int
    only_a: int  # hit in a, not in b
    only_b: int  # hit in b, not in a
    p_value: float

    def as_dict(self) -> dict[str, float | int]:
        return {"n": self.n, "only_a": self.only_a, "only_b": self.only_b, "p_value": self.p_value}


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> Paired:
    """Two-sided exact McNemar: a binomial test on the discordant pairs."""
    if len(a) != len(b):
        raise ValueError(f"paired outcomes need equal lengths, got {len(a)} and {len(b)}")
    only_a = sum(1 for x, y in zip(a, b) if x and not y)
    only_b = sum(1 for x, y in zip(a, b) if y and not x)
    d = only_a + only_b
    p = 1.0 if d == 0 else float(stats.binomtest(only_a, d, 0.5).pvalue)
    return Paired(len(a), only_a, only_b, p)


def fisher_exact(k_a: int, n_a: int, k_b: int, n_b: int) -> float:
    """Two-sided Fisher exact p-value for k_a/n_a against k_b/n_b (two independent samples, e.g. a
    triggered and a plain run of a sampled suite, whose answers are not paired)."""
    if n_a == 0 or n_b == 0:
        return 1.0
    return float(stats.fisher_exact([[k_a, n_a - k_a], [k_b, n_b - k_b]]).pvalue)


@dataclass(frozen=True)
class Agreement:
    """Cohen's kappa between two judges' binary labels on the same samples, with a bootstrap interval."""

    n: int
    agree: float | None
    kappa: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {"n": self.n, "agree": self.agree, "kappa": self.kappa, "ci_low": self.ci_low, "ci_high": self.ci_high}


def _kappa(a: ArrayLike, b: ArrayLike, axis: int = -1) -> NDArray[Any]:
    """Cohen's kappa for 0/1 arrays (vectorised over `axis` for scipy's bootstrap). Written out because
    scipy has no kappa; with both judges constant and equal, chance agreement is 1 and kappa is 1."""
    import numpy as np
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    po = (x == y).mean(axis=axis)
    pa, pb = x.mean(axis=axis), y.mean(axis=axis)
    pe = pa * pb + (1 - pa) * (1 - pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pe >= 1.0, 1.0, (po - pe) / (1 - pe))


def cohen_kappa(a: Sequence[bool], b: Sequence[bool], confidence: float = CONFIDENCE, seed: int = 0) -> Agreement:
    """Kappa with a paired percentile-bootstrap interval (scipy.stats.bootstrap), deterministic by seed."""
    import numpy as np
    if len(a) != len(b):
        raise ValueError(f"paired labels need equal lengths, got {len(a)} and {len(b)}")
    n = len(a)
    if n == 0:
        return Agreement(0, None, None, None, None)
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    k = float(_kappa(x, y))
    agree = float((x == y).mean())
    if n < 2 or (x == x[0]).all() and (y == y[0]).all():
        return Agreement(n, agree, k, k, k)  # no variation to resample
    res = stats.bootstrap((x, y), _kappa, paired=True, vectorized=True, confidence_level=confidence,
                          n_resamples=2000, method="percentile", rng=np.random.default_rng(seed))
    return Agreement(n, agree, k, float(res.confidence_interval.low), float(res.confidence_interval.high))
