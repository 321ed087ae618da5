"""Squared extrapolation of the EM map (SQUAREM, Varadhan and Roland 2008), with a monotone safeguard.

EM is a fixed-point iteration ``x -> F(x)`` of the parameters. Near its fixed point it moves by ever
smaller steps along nearly the same direction: slow when the fraction of missing information is large
(noisy annotators, few labels per item). From three consecutive iterates ``x0``, ``x1 = F(x0)`` and
``x2 = F(x1)``, with the first difference ``r = x1 - x0`` and the second ``v = x2 - 2 x1 + x0``, the
squared step ::

    x' = x0 - 2 a r + a^2 v,    a = -|r| / |v|  (at most -1)

jumps along the path that the iterates are taking; ``a = -1`` gives ``x' = x2``, the plain EM step.
The extrapolated point can overshoot, so the loop (:meth:`emcrowd.models._base.EMAggregator._run`)
evaluates the objective there and keeps ``x'`` only when it is at least the objective at ``x2``:
the objective history never decreases, and every accepted point is one that plain EM's guarantees
already cover (an EM step from any point does not lower the objective).

The parameters are extrapolated in an unconstrained space chosen by each model
(``_pack_params`` / ``_unpack_params`` of :class:`~emcrowd.models._base.EMAggregator`): log
probabilities renormalized afterwards, logits, log concentrations. This module holds the arithmetic
only (NumPy, no model knowledge).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The largest step length to start with (``|a|``); it grows by ``STEP_FACTOR`` each time a step at
#: the bound is accepted, and shrinks back after a rejected one (the adaptive bound of the paper's
#: global scheme).
FIRST_MAX_STEP = 4.0
STEP_FACTOR = 4.0
#: The step length is never larger than this (a guard against v underflowing near convergence).
MAX_STEP = 1e4
#: An extrapolation is tried only where EM's objective gains shrink by less than this factor per step:
#: a faster EM settles within a few steps, fewer than a rejected extrapolation (a pass) risks.
SLOW_RATE = 0.5


@dataclass
class StepLength:
    """The adaptive bound on ``|a|`` of one EM run."""

    bound: float = FIRST_MAX_STEP

    def accepted(self, a: float) -> None:
        if -a >= self.bound:
            self.bound = min(self.bound * STEP_FACTOR, MAX_STEP)

    def rejected(self) -> None:
        self.bound = max(FIRST_MAX_STEP, self.bound / STEP_FACTOR)


def step_length(rr: float, vv: float, bound: float) -> float | None:
    """``a = -|r| / |v|`` bounded to ``[-bound, -1]`` from the squared norms ``rr = |r|^2`` and
    ``vv = |v|^2``; None when the step would be the plain one (``a == -1``) or cannot be taken."""
    if not (np.isfinite(rr) and np.isfinite(vv)) or vv <= 0.0 or rr <= 0.0:
        return None
    a = max(-float(np.sqrt(rr / vv)), -bound)
    return None if a >= -1.0 else a


def coefficients(a: float) -> tuple[float, float, float]:
    """``x' = c0 x0 + c1 x1 + c2 x2``: the squared step written on the three iterates."""
    return (1.0 + a) ** 2, -2.0 * a * (1.0 + a), a * a


def squared_step(
    x0: np.ndarray, x1: np.ndarray, x2: np.ndarray, bound: float
) -> tuple[np.ndarray, float] | None:
    """The extrapolated point and its step length ``a`` (in ``[-bound, -1]``), or None when there is
    nothing to gain over ``x2`` (``a == -1``, no second difference, or a non-finite coordinate).

    The squared norms are summed by ``einsum``, not ``r @ r``: for that dot product OpenBLAS wakes
    its threads, which on a vector of 40,000 parameters cost 5-12 ms of CPU per call on a loaded
    two-core machine against 0.1 ms (a quarter of EBCC's iterations on 100k labels)."""
    r = x1 - x0
    v = x2 - x1 - r
    a = step_length(float(np.einsum("i,i->", r, r)), float(np.einsum("i,i->", v, v)), bound)
    if a is None:
        return None
    x = x0 - 2.0 * a * r + (a * a) * v
    if not np.all(np.isfinite(x)):
        return None
    return x, a


def log_normalize(log_p: np.ndarray, axis: int = -1) -> np.ndarray:
    """Log probabilities that sum to one along ``axis`` (from any finite log weights)."""
    top = np.max(log_p, axis=axis, keepdims=True)
    shifted = log_p - top
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def logit(p: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(p) - np.log1p(-p)


def expit(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow warnings."""
    out = np.empty_like(x, dtype=float)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    e = np.exp(x[~pos])
    out[~pos] = e / (1.0 + e)
    return out
