"""Simulated graded labels, for tests, benchmarks and ``emcrowd simulate --ordinal``.

Two generators, so that the ordinal model is tested on data it was not written for as well as on its
own:

* ``kind="gaussian"``: the model of :class:`~emcrowd.models.ordinal.gaussian.OrdinalDawidSkene`, each
  annotator with a bias and a spread (discretised Gaussian confusions);
* ``kind="confusion"``: unordered Dawid-Skene confusion matrices whose rows are Dirichlet draws with
  more mass near the diagonal (ordered noise, but no bias-and-spread shape: rows can be lopsided,
  asymmetric, non-monotone);
* ``kind="lean"``: ``gaussian`` annotators of whom a share (``lean_share``) answer the lowest grade
  on a fixed share of their items (uniform in 0.5-0.95 per annotator) whatever the truth, and the
  ordinal model's answer otherwise: a mixture, not the ordinal model's log-linear shape (the
  crowds where a few busy annotators answer one grade almost always).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from emcrowd.data import Labels
from emcrowd.errors import EmcrowdError
from emcrowd.models.ordinal.gaussian import log_confusion, natural_params
from emcrowd.models.simulate import _assign

KINDS = ("gaussian", "confusion", "lean")
#: Labels drawn at a time.
CHUNK = 1 << 20


@dataclass(frozen=True)
class OrdinalSimulation:
    """Result of :func:`simulate_ordinal`: ordered labels, the true grades and the annotators."""

    labels: Labels
    truth: np.ndarray  # (n_items,) true grade codes
    confusion: np.ndarray  # (n_workers, K, K)
    bias: np.ndarray | None  # (n_workers,), gaussian kind only
    spread: np.ndarray | None


def simulate_ordinal(
    n_items: int = 1000,
    n_workers: int = 50,
    n_classes: int = 4,
    labels_per_item: int = 5,
    *,
    kind: str = "gaussian",
    bias_scale: float = 0.5,
    spread_range: tuple[float, float] = (0.3, 1.5),
    lean_share: float = 0.3,
    truth_prior: np.ndarray | None = None,
    random_state: int = 0,
) -> OrdinalSimulation:
    """Draw graded labels: true grades uniform over ``n_classes``, ``labels_per_item`` distinct
    annotators per item, chosen uniformly.

    Parameters
    ----------
    kind : {"gaussian", "confusion"}
        The annotators' model (module docstring).
    bias_scale : float
        ``gaussian``: biases are normal with this standard deviation (grades).
    spread_range : (float, float)
        ``gaussian``: spreads are uniform in this range (grades). ``confusion``: its mean sets how fast
        the Dirichlet mass falls off with distance from the diagonal.
    lean_share : float
        ``lean``: the share of annotators leaning to the lowest grade.
    truth_prior : array of shape (n_classes,), optional
        The true grades' distribution (uniform by default).
    """
    if kind not in KINDS:
        raise EmcrowdError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if not (n_classes >= 2 and 1 <= labels_per_item <= n_workers and n_items >= 1):
        raise EmcrowdError("need n_classes >= 2, n_items >= 1 and 1 <= labels_per_item <= n_workers")
    rng = np.random.default_rng(random_state)
    bias = spread = None
    if kind in ("gaussian", "lean"):
        bias = rng.normal(0.0, bias_scale, n_workers)
        spread = rng.uniform(*spread_range, n_workers)
        confusion = np.exp(log_confusion(natural_params(bias, spread), n_classes))
        if kind == "lean":
            leaning = rng.random(n_workers) < lean_share
            share = np.where(leaning, rng.uniform(0.5, 0.95, n_workers), 0.0)[:, None, None]
            lowest = np.zeros(n_classes)
            lowest[0] = 1.0
            confusion = (1.0 - share) * confusion + share * lowest
    else:
        grades = np.arange(n_classes)
        distance = np.abs(grades[None, :] - grades[:, None])
        scale = float(np.mean(spread_range))
        confusion = np.empty((n_workers, n_classes, n_classes))
        for i in range(n_workers):
            sharp = rng.uniform(0.5, 2.0) / scale
            alpha = 10.0 * np.exp(-sharp * distance) + 0.05
            for k in range(n_classes):
                confusion[i, k] = rng.dirichlet(alpha[k])
    if truth_prior is None:
        truth = rng.integers(0, n_classes, n_items)
    else:
        prior = np.asarray(truth_prior, dtype=float)
        if prior.shape != (n_classes,) or (prior < 0).any() or prior.sum() <= 0:
            raise EmcrowdError(f"truth_prior must be {n_classes} non-negative weights, got {truth_prior!r}")
        truth = rng.choice(n_classes, size=n_items, p=prior / prior.sum())
    items, workers = _assign(rng, n_items, n_workers, labels_per_item)
    item = np.ascontiguousarray(items).ravel()
    worker = np.ascontiguousarray(workers).ravel()
    cdf = np.cumsum(confusion, axis=2)
    label = np.empty(item.size, dtype=np.int32)
    for lo in range(0, item.size, CHUNK):  # (labels x grades) temporaries a chunk at a time
        hi = min(lo + CHUNK, item.size)
        rows = cdf[worker[lo:hi], truth[item[lo:hi]]]
        label[lo:hi] = np.minimum((rng.random(hi - lo)[:, None] > rows).sum(axis=1), n_classes - 1)
    labels = Labels(
        item=item,
        worker=worker,
        label=label,
        item_names=tuple(map(str, range(n_items))),
        worker_names=tuple(map(str, range(n_workers))),
        class_names=tuple(str(k) for k in range(n_classes)),
        ordered=True,
    )
    return OrdinalSimulation(labels, truth, confusion, bias, spread)
