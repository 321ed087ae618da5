"""The output tables of ``emcrowd update``'s incremental path: the active items' rows, the
annotators' tables from the kept counts, and the summary's majority-vote counts, made as a fit
makes them (:mod:`emcrowd.tables`) from the incremental fit's parameters and statistics
(:mod:`emcrowd.models._incremental`) without the whole fit's data."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from emcrowd.data import Labels
from emcrowd.io.kept_tables import rows_of


def stand_in_model(method: str, inc: Any, n_items: int, worker_names: tuple[str, ...]) -> Any:
    """A fitted-looking model of ``method`` carrying the incremental fit's parameters, for the tables."""
    prior = np.asarray(inc.class_prior, dtype=float)
    if method == "glad":
        from emcrowd.models.classification.glad import GLAD

        model = GLAD()
        model.alpha_ = inc.params["worker.alpha"]
        model.b_ = inc.params["item.b"]
        model.beta_ = np.exp(model.b_)
    else:
        from emcrowd.models.classification.dawid_skene import DawidSkene

        model = DawidSkene()
        model.confusion_ = inc.params["worker.confusion"]
        model.accuracy_ = np.einsum("ikk->ik", model.confusion_) @ prior
    model.class_prior_ = prior
    model.labels_ = None
    return model


def active_tables(active: Labels, inc: Any, model: Any, ties: str, options: dict[str, Any]) -> dict[str, Any]:
    """The active items' rows of posteriors and items."""
    from emcrowd.analysis.aggregate import Aggregation
    from emcrowd.models.classification.majority import majority_vote
    from emcrowd.tables import item_table, posterior_table

    labels = np.argmax(inc.posteriors, axis=1)
    vote = majority_vote(active, ties=ties, random_state=int(options.get("random_state", 0)))
    if inc.active_b is not None:  # GLAD: the active items' beta in their rows
        from emcrowd.models.classification.glad import GLAD

        model = GLAD()
        model.beta_ = np.exp(inc.active_b)
    result = Aggregation("update", inc.posteriors, labels, vote, model=model)
    return {"posteriors": posterior_table(active, result), "items": item_table(active, result, None)}


def worker_tables(
    classes: tuple[str, ...], worker_names: tuple[str, ...], inc: Any, model: Any, n_items: int
) -> dict[str, Any]:
    """The annotators' tables (workers and confusion) from the kept counts, as a fit writes them."""
    from emcrowd.analysis.aggregate import Aggregation
    from emcrowd.analysis.quality import annotator_quality
    from emcrowd.models.classification.glad import GLAD
    from emcrowd.tables import confusion_table

    n_labels = inc.stats["worker_n_labels"]
    data = SimpleNamespace(
        n_classes=len(classes), n_workers=len(worker_names), worker_names=worker_names,
        class_names=classes, labels_per_worker=lambda: n_labels,
        labels_per_item=lambda: np.ones(n_items, dtype=np.int64),
    )  # fmt: skip
    counts = inc.stats["answer_counts"]
    quality = annotator_quality(data, model, counts=counts)  # type: ignore[arg-type]
    agree = np.einsum("ikk->i", counts)
    table: dict[str, Any] = {"worker": worker_names, "n_labels": n_labels}
    for name in ("accuracy", "accuracy_low", "accuracy_high", "spammer_score"):
        table[name] = quality[name]
    table["agreement"] = np.divide(agree, n_labels, out=np.full(len(n_labels), np.nan), where=n_labels > 0)
    table["flags"] = quality["flags"]
    if isinstance(model, GLAD):
        table["alpha"] = model.alpha_
    empty = np.zeros((0, len(classes)))
    result = Aggregation("x", empty, np.zeros(0, dtype=np.int64), None, model=model)  # type: ignore[arg-type]
    return {"workers": table, "confusion": confusion_table(data, result)}  # type: ignore[arg-type]


def majority_counts(
    prev: Any, codes: np.ndarray, rows: dict[str, Any], previous: dict[str, Any]
) -> dict[str, Any]:
    """The summary's majority-vote counts: the previous ones, less those of the rows replaced (the
    known items among ``codes``, read from the previous table ``prev``), plus those of the new rows
    ``rows``. No pass over the kept rows."""

    def counts(label: list[Any], majority: list[Any], tie: list[Any], n_labels: list[Any]) -> np.ndarray:
        return np.array([
            sum(1 for t in tie if t is True or t == "true"),
            sum(1 for n in n_labels if int(n) == 0),
            sum(1 for a, b in zip(label, majority, strict=True) if a != b),
        ])  # fmt: skip

    names = ("label", "majority", "majority_tie", "n_labels")
    old = codes[codes < prev.num_rows]
    before = counts(*(rows_of(prev, name, old) for name in names))
    after = counts(*([_plain_value(v) for v in rows[name]] for name in names))
    major = previous.get("majority", {})
    base = np.array([int(major.get(key, 0)) for key in ("n_ties", "n_unlabeled", "n_differ")])
    total = base - before + after
    return {**major, "n_ties": int(total[0]), "n_unlabeled": int(total[1]), "n_differ": int(total[2])}


def _plain_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
