"""How surprising "k of n" is for an applicant: the binomial tail, in decades.

An applicant now and then cancels a slot that someone else takes, corrects an applicant, misses an
appointment. Whether *k of n* bookings doing so says anything depends on both numbers: 1 of 1 is
what anyone can do, 2 of 50 is an office's routine, 6 of 8 is not chance. ``surprise(k, n, p)`` is
``-log10 P(X >= k)`` for ``X ~ Binomial(n, p)``, with ``p`` an assumed applicant's rate (declared
in :class:`features.params.FeatureParams`, a modelling assumption, not a fitted number): it grows
with both the count and the share, and the population reference then judges how rare the value is
at the site.
"""

from __future__ import annotations

import math
from functools import lru_cache

#: terms of the tail summed at most (the tail beyond is negligible for the rates used)
_TERMS = 400


@lru_cache(maxsize=65536)
def surprise(k: int, n: int, p: float) -> float:
    """-log10 P(Binomial(n, p) >= k); 0 for k <= 0, NaN for n <= 0 (nothing to judge)."""
    if n <= 0:
        return math.nan
    if k <= 0:
        return 0.0
    k = min(k, n)
    log_p, log_q = math.log(p), math.log1p(-p)
    base = math.lgamma(n + 1)
    terms = [
        base - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k, min(n, k + _TERMS) + 1)
    ]
    top = max(terms)
    log_tail = top + math.log(sum(math.exp(t - top) for t in terms))
    return max(-log_tail / math.log(10.0), 0.0)
