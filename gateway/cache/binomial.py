"""Exact (Clopper-Pearson) confidence bounds on a rate measured as `bad` of `n` independent verdicts. Exact bounds
never claim more than the verdicts show, even with none or few wrong, where the normal approximation (and Wilson
near 0) would: with 0 wrong of n, the rate is below 1 - (1 - confidence)^(1/n) and no lower.

Everything rests on the binomial tail P(X <= k | n, p) = I_(1-p)(n-k, k+1), the regularised incomplete beta
function, computed by its continued fraction (Lentz's method), so no statistics library is needed."""

from __future__ import annotations

import math

_TINY = 1e-300
_EPSILON = 3e-14
_ITERATIONS = 500  # the fraction converges in O(sqrt(max(a, b))) steps: far fewer for any count seen here


def _fraction(a: float, b: float, x: float) -> float:
    both, above, below = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - both * x / above
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, _ITERATIONS + 1):
        for term in (m * (b - m) * x / ((below + 2 * m) * (a + 2 * m)),
                     -(a + m) * (both + m) * x / ((a + 2 * m) * (above + 2 * m))):
            d = 1.0 + term * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + term / c
            c = c if abs(c) > _TINY else _TINY
            h *= d * c
        if abs(d * c - 1.0) < _EPSILON:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), for a, b > 0 and x in [0, 1]."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _fraction(a, b, x) / a
    return 1.0 - front * _fraction(b, a, 1.0 - x) / b


def at_most(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return incomplete_beta(n - k, k + 1, 1.0 - p)


def below(rate: float, bad: int, n: int, confidence: float) -> bool:
    """Whether `bad` of `n` show, with `confidence`, that the true rate is at most `rate`: the exact upper bound
    is at most `rate` exactly when seeing so few at that rate would be rarer than 1 - confidence. One tail
    evaluation, no search: what choosing a threshold asks many times."""
    if n <= 0 or bad > rate * n:
        return False
    return at_most(bad, n, rate) <= 1.0 - confidence


def _solve(target: float, k: int, n: int, low: float, high: float) -> float:
    """The p in [low, high] where P(X <= k | n, p), which falls as p grows, equals `target`."""
    for _ in range(60):
        middle = (low + high) / 2
        if at_most(k, n, middle) > target:
            low = middle
        else:
            high = middle
    return high


def upper(bad: int, n: int, confidence: float) -> float:
    """The one-sided exact upper bound on the rate: true with `confidence`. 1 with no verdicts."""
    if n <= 0 or bad >= n:
        return 1.0
    return _solve(1.0 - confidence, bad, n, bad / n, 1.0)


def lower(bad: int, n: int, confidence: float) -> float:
    """The one-sided exact lower bound on the rate: true with `confidence`. 0 with none wrong."""
    if n <= 0 or bad <= 0:
        return 0.0
    return _solve(confidence, bad - 1, n, 0.0, bad / n)
