"""Labelling platforms' exports, recognised by their column names (or a document's shape).

A :class:`Preset` says which columns hold the item, the annotator and the answer, which one holds the
platform's control (gold) answers, and which rows to leave out (rejected assignments). They are found
from a header by :func:`detect`, or forced with ``--preset NAME`` (:func:`resolve`); an explicit
``--item-col``/``--worker-col``/``--label-col`` always wins over a preset's choice.

* ``toloka`` — Toloka's TSV: ``INPUT:*``, ``OUTPUT:*``, ``GOLDEN:*``, ``ASSIGNMENT:task_id``,
  ``ASSIGNMENT:worker_id``, ``ASSIGNMENT:status`` (rejected assignments dropped).
* ``mturk`` — Mechanical Turk batch results: ``HITId``, ``WorkerId``, ``Answer.*``,
  ``AssignmentStatus`` (rejected assignments dropped).
* ``label-studio`` — Label Studio's JSON export: tasks with annotations (see :mod:`emcrowd.io.labels`).
* ``crowd-kit`` — ``task, worker, label`` columns, as crowd-kit's data sets and ``fit`` take them.
* ``gal`` — Get-Another-Label's headerless ``worker<TAB>item<TAB>label`` files.
* ``figure-eight`` — Figure Eight's (CrowdFlower's, Appen's) full reports: ``_unit_id``, ``_worker_id``,
  ``_golden``, ``_trust``, the answer column (the one with a ``<answer>_gold`` column beside it) and its
  ``<answer>_gold`` control answers.
* ``peerannot`` — peerannot's ``answers.json``: ``{task: {worker: label}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from emcrowd.errors import EmcrowdError

PRESETS = ("toloka", "mturk", "label-studio", "crowd-kit", "gal", "figure-eight", "peerannot")
TITLES = {
    "toloka": "Toloka export",
    "mturk": "Mechanical Turk batch results",
    "label-studio": "Label Studio export",
    "figure-eight": "Figure Eight (CrowdFlower) full report",
    "peerannot": "peerannot answers.json",
    "crowd-kit": "crowd-kit style table",
    "gal": "Get-Another-Label file (no header: worker, item, label)",
}
#: Statuses whose rows are left out unless rejected assignments are kept (compared in lower case).
REJECTED = frozenset({"rejected"})


@dataclass
class Preset:
    """Where a platform's export keeps each role.

    Attributes
    ----------
    name : str
        One of :data:`PRESETS`.
    columns : dict of str to str
        Column for ``item``, ``worker`` and ``label`` (for ``gal``: ``"1"``, ``"2"``, ``"3"``, the
        column numbers).
    gold : str or None
        The column of control answers (Toloka's ``GOLDEN:result``), if any.
    status : str or None
        The column of assignment statuses whose rejected rows are dropped, if any.
    header : bool
        Whether the file has a header row (not so for ``gal``).
    """

    name: str
    columns: dict[str, str] = field(default_factory=dict)
    gold: str | None = None
    status: str | None = None
    header: bool = True

    @property
    def title(self) -> str:
        return TITLES[self.name]


def _prefixed(names: Sequence[str], prefix: str) -> list[str]:
    return [n for n in names if n.strip().startswith(prefix)]


def _find(names: Sequence[str], wanted: str) -> str | None:
    lowered = {n.strip().lower(): n.strip() for n in names}
    return lowered.get(wanted.lower())


def detect(names: Sequence[str]) -> str | None:
    """The platform whose export has these column names, or None."""
    stripped = [n.strip() for n in names]
    if _prefixed(stripped, "OUTPUT:") and (
        _prefixed(stripped, "ASSIGNMENT:") or _prefixed(stripped, "INPUT:")
    ):
        return "toloka"
    if _find(stripped, "HITId") and _find(stripped, "WorkerId") and _prefixed(stripped, "Answer."):
        return "mturk"
    lowered = {n.lower() for n in stripped}
    if {"task", "worker", "label"} <= lowered and "item" not in lowered:
        return "crowd-kit"
    if {"_unit_id", "_worker_id"} <= lowered:
        return "figure-eight"
    return None


def resolve(name: str, names: Sequence[str], given: dict[str, str | None], source: str) -> Preset:
    """The columns of preset ``name`` in a header (``given`` columns win).

    Raises
    ------
    EmcrowdError
        The header lacks what the preset needs, or holds several candidate answer columns and none
        was named; the message lists the columns seen.
    """
    stripped = [n.strip() for n in names]
    shown = ", ".join(stripped)

    def need(role: str, column: str | None, what: str) -> str:
        if given.get(role):
            return given[role]  # type: ignore[return-value]
        if column is None:
            raise EmcrowdError(
                f"{source}: no {what} column for the {TITLES[name]} (columns: {shown}); "
                f"name it with --{role}-col"
            )
        return column

    def one_answer(prefix: str) -> str | None:
        answers = _prefixed(stripped, prefix)
        if len(answers) > 1 and not given.get("label"):
            raise EmcrowdError(
                f"{source}: several answer columns ({', '.join(answers)}); choose one with --label-col"
            )
        return answers[0] if answers else None

    if name == "toloka":
        task = _find(stripped, "ASSIGNMENT:task_id")
        inputs = _prefixed(stripped, "INPUT:")
        item = need("item", task or (inputs[0] if len(inputs) == 1 else None), "ASSIGNMENT:task_id")
        worker = need("worker", _find(stripped, "ASSIGNMENT:worker_id"), "ASSIGNMENT:worker_id")
        label = need("label", one_answer("OUTPUT:"), "OUTPUT:")
        golden = _find(stripped, "GOLDEN:" + label.split(":", 1)[-1])
        status = _find(stripped, "ASSIGNMENT:status")
        return Preset(name, {"item": item, "worker": worker, "label": label}, golden, status)
    if name == "mturk":
        item = need("item", _find(stripped, "HITId"), "HITId")
        worker = need("worker", _find(stripped, "WorkerId"), "WorkerId")
        label = need("label", one_answer("Answer."), "Answer.*")
        return Preset(
            name, {"item": item, "worker": worker, "label": label}, None, _find(stripped, "AssignmentStatus")
        )
    if name == "crowd-kit":
        columns = {
            role: need(role, _find(stripped, role_name), role_name)
            for role, role_name in (("item", "task"), ("worker", "worker"), ("label", "label"))
        }
        return Preset(name, columns)
    if name == "gal":
        if len(stripped) < 3:
            raise EmcrowdError(
                f"{source}: a Get-Another-Label file has three columns (worker, item, label); "
                f"the first row has {len(stripped)}"
            )
        return Preset(name, {"item": "2", "worker": "1", "label": "3"}, header=False)
    if name == "figure-eight":
        item = need("item", _find(stripped, "_unit_id"), "_unit_id")
        worker = need("worker", _find(stripped, "_worker_id"), "_worker_id")
        lowered_names = {n.lower() for n in stripped}
        answers = [n for n in stripped if not n.startswith("_") and f"{n.lower()}_gold" in lowered_names]
        if len(answers) > 1 and not given.get("label"):
            raise EmcrowdError(
                f"{source}: several answer columns ({', '.join(answers)}); choose one with --label-col"
            )
        label = need("label", answers[0] if answers else None, "answer (one with an <answer>_gold column)")
        return Preset(
            name, {"item": item, "worker": worker, "label": label}, _find(stripped, f"{label}_gold")
        )
    if name == "label-studio":
        raise EmcrowdError(
            f"{source}: --preset label-studio reads Label Studio's JSON, JSON-MIN and CSV/TSV exports "
            "(with its id and annotator columns)"
        )
    if name == "peerannot":
        raise EmcrowdError(f"{source}: --preset peerannot reads peerannot's answers.json")
    raise EmcrowdError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")


def check_name(name: str | None) -> str | None:
    """A ``--preset`` value, checked (None: recognise from the file)."""
    if name is None or name == "auto":
        return None
    key = name.strip().lower().replace("_", "-")
    aliases = {
        "labelstudio": "label-studio",
        "crowdkit": "crowd-kit",
        "get-another-label": "gal",
        "amt": "mturk",
        "crowdflower": "figure-eight",
        "figureeight": "figure-eight",
        "f8": "figure-eight",
        "appen": "figure-eight",
    }
    key = aliases.get(key, key)
    if key not in PRESETS:
        raise EmcrowdError(f"--preset must be one of {', '.join(PRESETS)}, got {name!r}")
    return key
