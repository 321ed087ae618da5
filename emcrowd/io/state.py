"""A fit's saved state: what ``emcrowd update`` and ``emcrowd fit --from`` read back (docs/incremental.md).

Three files beside the fit's outputs, in open formats (no pickles):

* ``state.json``: the format and its version, the emcrowd version, the method and its options, the
  class names, the input options that shaped the labels (duplicates), the sizes, an id shared with the
  two arrays files, their sizes in bytes, and a SHA-256 checksum of the rest of the document;
* ``state-labels.npz``: the labels as codes (``item``, ``worker``, ``label``, int32), the gold codes
  (``gold``, -1 = none; absent without gold), and the item and annotator ids in code order
  (``item_names`` and ``worker_names``: UTF-8 bytes, the ids joined by newlines; where an id holds a
  newline, ``*_name_ends`` gives each id's end offset instead);
* ``state-params.npz``: the class prior (``class_prior``), the annotator parameters (``worker.NAME``,
  first axis: the annotators), the item parameters (``item.NAME``, first axis: the items) and the
  model's other parameters (``shared.NAME``).

Each array in a ``.npz`` carries the zip format's CRC-32, checked as it is read; the id and the sizes
tie the three files together. :func:`read_state` refuses anything else with one :class:`InputError`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emcrowd._version import __version__
from emcrowd.data import Labels
from emcrowd.errors import InputError

FORMAT = "emcrowd-fit-state"
FORMAT_VERSION = 1
STATE_JSON = "state.json"
LABELS_NPZ = "state-labels.npz"
PARAMS_NPZ = "state-params.npz"
STATS_NPZ = "state-stats.npz"
STATE_FILES = (STATE_JSON, LABELS_NPZ, PARAMS_NPZ)
_HASH_KEYS = ("item_name_hash", "item_name_hash_code")


@dataclass
class FitState:
    """A fit's state, as written by :func:`state_files` and read by :func:`read_state`."""

    method: str
    options: dict[str, Any]
    labels: Labels
    gold: np.ndarray | None
    class_prior: np.ndarray
    workers: dict[str, np.ndarray] = field(default_factory=dict)
    items: dict[str, np.ndarray] = field(default_factory=dict)
    shared: dict[str, np.ndarray] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # ties, duplicates, ...
    version: str = __version__
    stats: dict[str, np.ndarray] | None = None  # an incremental update's statistics


def _names_arrays(names: tuple[str, ...], hashed: bool = False) -> dict[str, np.ndarray]:
    """Ids as UTF-8 bytes joined by newlines; where an id holds a newline, each one's end offset too.
    With ``hashed``, the ids' :func:`name_hashes` sorted (``name_hash``) and each one's position
    (``name_hash_code``): what :class:`NameIndex` looks ids up in without decoding them."""
    if any("\n" in n for n in names):
        encoded = [n.encode("utf-8") for n in names]
        ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        out = {"names": np.frombuffer(b"".join(encoded), dtype=np.uint8), "name_ends": ends}
    else:
        out = {"names": np.frombuffer("\n".join(names).encode("utf-8"), dtype=np.uint8)}
    if hashed:
        starts, ends = _bounds(out, len(names))
        hashes = name_hashes(out["names"], starts, ends)
        order = np.argsort(hashes)
        out["name_hash"] = hashes[order]
        out["name_hash_code"] = order.astype(np.int64)
    return out


def _bounds(arrays: dict[str, np.ndarray], count: int, prefix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Each id's start and end in the bytes of ``arrays[prefix + "names"]``."""
    data = arrays[f"{prefix}names"]
    ends = arrays.get(f"{prefix}name_ends")
    if ends is None:
        cuts = np.flatnonzero(data == 10)
        ends = np.concatenate([cuts, [data.size]]) if count else np.zeros(0, dtype=np.int64)
        starts = np.concatenate([[0], cuts + 1]) if count else np.zeros(0, dtype=np.int64)
    else:
        ends = np.asarray(ends, dtype=np.int64)
        starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    if starts.size != count:
        raise ValueError(f"{starts.size} ids where there are {count}")
    return starts.astype(np.int64), ends.astype(np.int64)


_HASH_BASE = np.uint64(0x100000001B3)
_HASH_INVERSE = np.uint64(pow(0x100000001B3, -1, 2**64))
_HASH_MIX = np.uint64(0x9E3779B97F4A7C15)
#: Bytes hashed at a time by :func:`name_hashes` (its temporaries: a few arrays of 8 bytes each).
_HASH_BYTES = 1 << 22


def name_hashes(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each byte string ``data[starts[i]:ends[i]]``, vectorised: the polynomial
    ``sum of (byte + 1) * B ** position`` modulo 2 ** 64 (from prefix sums over all the bytes, each
    string's share brought back to its own first position by ``B``'s inverse), mixed with its length.
    Equal ids have equal hashes; :class:`NameIndex` checks the bytes of every hit."""
    out = np.empty(starts.size, dtype=np.uint64)
    span = int(min(_HASH_BYTES, max(int(ends[-1] - starts[0]) if starts.size else 0, 1)))
    powers = inverse = None
    first = 0
    with np.errstate(over="ignore"):
        while first < starts.size:
            last = int(np.searchsorted(starts, starts[first] + span, side="left"))
            last = max(last, first + 1)
            lo, hi = int(starts[first]), int(ends[last - 1])
            if powers is None or powers.size < hi - lo + 1:  # B ** i and B ** -i, made once
                powers = np.full(max(hi - lo, span) + 1, _HASH_BASE, dtype=np.uint64)
                powers[0] = np.uint64(1)
                np.cumprod(powers, out=powers)
                inverse = np.full(powers.size, _HASH_INVERSE, dtype=np.uint64)
                inverse[0] = np.uint64(1)
                np.cumprod(inverse, out=inverse)
            chunk = data[lo:hi].astype(np.uint64)
            chunk += np.uint64(1)
            chunk *= powers[: hi - lo]
            prefix = np.empty(hi - lo + 1, dtype=np.uint64)
            prefix[0] = 0
            np.cumsum(chunk, out=prefix[1:])
            a, b = starts[first:last] - lo, ends[first:last] - lo
            h = prefix[b]
            h -= prefix[a]
            h *= inverse[a]
            h ^= (b - a).astype(np.uint64) * _HASH_MIX
            h *= _HASH_MIX
            out[first:last] = h
            first = last
    return out


class NameIndex:
    """The item ids of a state, looked up without decoding them: the ids' bytes and :func:`name_hashes`
    of each labels file (the first and its chunks), searched by hash and checked byte for byte."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]] = []
        self.size = 0

    def add(self, arrays: dict[str, np.ndarray], count: int) -> None:
        starts, ends = _bounds(arrays, count, "item_")
        self.parts.append(
            (
                arrays["item_names"],
                starts,
                ends,
                arrays["item_name_hash"],
                arrays["item_name_hash_code"],
                self.size,
            )
        )
        self.size += count

    def __len__(self) -> int:
        return self.size

    def positions(self, names: tuple[str, ...]) -> np.ndarray:
        """Each of ``names``' code among the ids, or -1."""
        encoded = [n.encode("utf-8") for n in names]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded))
        ends = np.cumsum(lengths)
        starts = ends - lengths
        hashes = name_hashes(np.frombuffer(b"".join(encoded), dtype=np.uint8), starts, ends)
        out = np.full(len(names), -1, dtype=np.int64)
        for data, p_starts, p_ends, sorted_hash, hash_code, offset in self.parts:
            at = np.searchsorted(sorted_hash, hashes)
            hit = np.flatnonzero(
                (at < sorted_hash.size) & (sorted_hash[np.minimum(at, sorted_hash.size - 1)] == hashes)
            )
            for i, k in zip(hit.tolist(), at[hit].tolist(), strict=True):
                while k < sorted_hash.size and sorted_hash[k] == hashes[i]:  # (equal hashes: rare)
                    code = int(hash_code[k])
                    if data[p_starts[code] : p_ends[code]].tobytes() == encoded[i]:
                        out[i] = offset + code
                        break
                    k += 1
        return out

    def names_of(self, codes: np.ndarray) -> tuple[str, ...]:
        """The ids of the items ``codes``."""
        out = []
        bounds = [offset for *_, offset in self.parts]
        for code in np.asarray(codes, dtype=np.int64).tolist():
            part = int(np.searchsorted(bounds, code, side="right")) - 1
            data, starts, ends, *_ = self.parts[part]
            local = code - bounds[part]
            out.append(data[starts[local] : ends[local]].tobytes().decode("utf-8"))
        return tuple(out)


def _names_from(arrays: dict[str, np.ndarray], prefix: str, count: int) -> tuple[str, ...]:
    raw = arrays[f"{prefix}_names"].tobytes()
    ends = arrays.get(f"{prefix}_name_ends")
    if ends is None:
        names = tuple(raw.decode("utf-8").split("\n")) if count else ()
    else:
        starts = [0, *ends[:-1].tolist()]
        names = tuple(raw[a:b].decode("utf-8") for a, b in zip(starts, ends.tolist(), strict=True))
    if len(names) != count:
        raise ValueError(f"{len(names)} {prefix} ids where there are {count}")
    return names


def state_files(state: FitState) -> dict[str, Any]:
    """The three state files as :func:`emcrowd.io.write_outputs` takes them."""
    data = state.labels
    state_id = uuid.uuid4().hex
    tag = np.frombuffer(state_id.encode(), dtype=np.uint8)
    labels = {"state_id": tag, "item": data.item, "worker": data.worker, "label": data.label}
    labels |= {f"item_{k}": v for k, v in _names_arrays(data.item_names, hashed=True).items()}
    labels |= {f"worker_{k}": v for k, v in _names_arrays(data.worker_names).items()}
    if state.gold is not None:
        labels["gold"] = np.asarray(state.gold, dtype=np.int32)
    params = {"state_id": tag, "class_prior": np.asarray(state.class_prior, dtype=float)}
    params |= {f"worker.{k}": np.asarray(v) for k, v in state.workers.items()}
    params |= {f"item.{k}": np.asarray(v) for k, v in state.items.items()}
    params |= {f"shared.{k}": np.asarray(v) for k, v in state.shared.items()}
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "emcrowd_version": state.version,
        "state_id": state_id,
        "method": state.method,
        "options": state.options,
        "class_names": list(data.class_names),
        "n_items": data.n_items,
        "n_workers": data.n_workers,
        "n_labels": data.n_labels,
        "worker_params": sorted(state.workers),
        "item_params": sorted(state.items),
        "shared_params": sorted(state.shared),
        **state.extra,
    }
    files: dict[str, Any] = {LABELS_NPZ: labels, PARAMS_NPZ: params}
    if state.stats is not None:
        doc["stats"] = sorted(state.stats)
        files[STATS_NPZ] = {"state_id": tag, **state.stats}
    doc["checksum"] = _checksum(doc)
    return {STATE_JSON: json.dumps(doc, indent=2, default=_plain) + "\n", **files}


def document_text(doc: dict[str, Any]) -> str:
    """``state.json``'s text for ``doc`` (its checksum set)."""
    doc = dict(doc)
    doc["checksum"] = _checksum(doc)
    return json.dumps(doc, indent=2, default=_plain) + "\n"


def chunk_name(number: int) -> str:
    """The file name of the ``number``-th chunk of labels an update appends (1, 2, ...)."""
    return f"state-labels-{number:04d}.npz"


def chunk_arrays(
    chunk_id: str, item: np.ndarray, worker: np.ndarray, label: np.ndarray,
    new_items: tuple[str, ...], new_workers: tuple[str, ...],
) -> tuple[dict[str, np.ndarray], int]:  # fmt: skip
    """A chunk of labels appended by an update (codes in the merged coding, the ids of the items and
    annotators it adds), and the CRC-32 of its codes as ``state.json`` lists it."""
    arrays = {
        "state_id": np.frombuffer(chunk_id.encode(), dtype=np.uint8),
        "item": np.asarray(item, dtype=np.int32),
        "worker": np.asarray(worker, dtype=np.int32),
        "label": np.asarray(label, dtype=np.int32),
    }
    arrays |= {f"item_{k}": v for k, v in _names_arrays(new_items, hashed=True).items()}
    arrays |= {f"worker_{k}": v for k, v in _names_arrays(new_workers).items()}
    return arrays, _codes_crc(arrays)


def _codes_crc(arrays: dict[str, np.ndarray]) -> int:
    import zlib

    crc = 0
    for key in ("item", "worker", "label"):
        crc = zlib.crc32(np.ascontiguousarray(arrays[key], dtype=np.int32).tobytes(), crc)
    return crc


def _chunks(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return list(doc.get("label_chunks", []))


def read_names(directory: str | Path, doc: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The item and annotator ids of a state, in code order (the first labels file and its chunks'),
    without reading the label codes."""
    directory = Path(directory)
    base_id = doc.get("labels_id", doc["state_id"])
    base = _load_npz(
        directory / LABELS_NPZ,
        base_id,
        ["item_names", "worker_names"],
        ("item", "worker", "label", "gold", *_HASH_KEYS),
    )
    n_items, n_workers = (
        int(doc.get("base_items", doc["n_items"])),
        int(doc.get("base_workers", doc["n_workers"])),
    )
    try:
        items = list(_names_from(base, "item", n_items))
        workers = list(_names_from(base, "worker", n_workers))
    except Exception as exc:
        raise InputError(directory / LABELS_NPZ, f"damaged fit state ({exc})") from None
    for chunk in _chunks(doc):
        path = directory / chunk["file"]
        arrays = _load_npz(
            path, chunk["chunk_id"], ["item_names", "worker_names"], ("item", "worker", "label", *_HASH_KEYS)
        )
        try:
            items += _names_from(arrays, "item", int(chunk["n_items"]))
            workers += _names_from(arrays, "worker", int(chunk["n_workers"]))
        except Exception as exc:
            raise InputError(path, f"damaged fit state ({exc})") from None
    if (len(items), len(workers)) != (doc["n_items"], doc["n_workers"]):
        raise InputError(directory / LABELS_NPZ, f"damaged fit state (its sizes differ from {STATE_JSON}'s)")
    return tuple(items), tuple(workers)


def read_index(directory: str | Path, doc: dict[str, Any]) -> tuple[NameIndex, tuple[str, ...]] | None:
    """The item ids of a state as a :class:`NameIndex` and the annotator ids in code order, without
    decoding the item ids; None for a state whose labels files keep no hashes of them."""
    directory = Path(directory)
    skip = ("item", "worker", "label", "gold")
    wanted = ["item_names", "worker_names", "item_name_hash", "item_name_hash_code"]
    base = (doc.get("labels_id", doc["state_id"]), doc.get("base_items", doc["n_items"]))
    files = [(directory / LABELS_NPZ, *base, doc.get("base_workers", doc["n_workers"]))]
    files += [(directory / c["file"], c["chunk_id"], c["n_items"], c["n_workers"]) for c in _chunks(doc)]
    index, workers = NameIndex(), []
    for path, file_id, n_items, n_workers in files:
        try:
            with np.load(path, allow_pickle=False) as npz:
                if "item_name_hash" not in npz.files:
                    return None
        except (OSError, ValueError, EOFError, zipfile.BadZipFile):
            pass  # (refused with its reason by _load_npz below)
        arrays = _load_npz(path, file_id, wanted, skip)
        try:
            index.add(arrays, int(n_items))
            workers += _names_from(arrays, "worker", int(n_workers))
            if arrays["item_name_hash"].shape != (int(n_items),):
                raise ValueError("hashes of the wrong size")
        except Exception as exc:
            raise InputError(path, f"damaged fit state ({exc})") from None
    if (len(index), len(workers)) != (doc["n_items"], doc["n_workers"]):
        raise InputError(directory / LABELS_NPZ, f"damaged fit state (its sizes differ from {STATE_JSON}'s)")
    return index, tuple(workers)


def read_codes(directory: str | Path, doc: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The label codes of a state (item, worker, label), the first labels file's then its chunks'."""
    directory = Path(directory)
    base_id = doc.get("labels_id", doc["state_id"])
    parts = [
        _load_npz(
            directory / LABELS_NPZ,
            base_id,
            ["item", "worker", "label"],
            ("item_names", "worker_names", *_HASH_KEYS),
        )
    ]
    for chunk in _chunks(doc):
        path = directory / chunk["file"]
        arrays = _load_npz(
            path, chunk["chunk_id"], ["item", "worker", "label"], ("item_names", "worker_names", *_HASH_KEYS)
        )
        if _codes_crc(arrays) != chunk["crc32"]:
            raise InputError(path, f"damaged fit state (its CRC-32 differs from {STATE_JSON}'s)")
        parts.append(arrays)
    codes = tuple(
        parts[0][key] if len(parts) == 1 else np.concatenate([p[key] for p in parts])
        for key in ("item", "worker", "label")
    )
    if codes[0].size != doc["n_labels"]:
        raise InputError(directory / LABELS_NPZ, f"damaged fit state (its sizes differ from {STATE_JSON}'s)")
    return codes  # type: ignore[return-value]


def read_stats(directory: str | Path, doc: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """The incremental statistics of a state, or None when it keeps none."""
    if not doc.get("stats"):
        return None
    arrays = _load_npz(Path(directory) / STATS_NPZ, doc["state_id"], list(doc["stats"]))
    return {k: arrays[k] for k in doc["stats"]}


def _plain(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON")


def _checksum(doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "checksum"}
    text = json.dumps(body, sort_keys=True, default=_plain, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def read_state_meta(directory: str | Path) -> dict[str, Any]:
    """``state.json`` of a fit's output directory, checked (format, version, checksum)."""
    directory = Path(directory)
    path = directory / STATE_JSON
    if not directory.is_dir():
        raise InputError(directory, "not a directory of fit outputs")
    if not path.is_file():
        raise InputError(
            directory, f"no {STATE_JSON}: not the output directory of an emcrowd fit (0.x and later keep one)"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(path, f"damaged fit state ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise InputError(path, "not an emcrowd fit state")
    if doc.get("checksum") != _checksum(doc):
        raise InputError(path, "damaged fit state (its checksum does not match its content)")
    if doc.get("format_version") != FORMAT_VERSION:
        raise InputError(
            path, f"fit state format {doc.get('format_version')}; this emcrowd reads format {FORMAT_VERSION}"
        )
    if _major(str(doc.get("emcrowd_version"))) != _major(__version__):
        raise InputError(
            path,
            f"fit state of emcrowd {doc.get('emcrowd_version')}; this is emcrowd {__version__} "
            "(another major version): fit again",
        )
    return doc


def _load_npz(
    path: Path, state_id: str, keys: list[str], skip: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            out = {k: npz[k] for k in npz.files if k not in skip}
    except FileNotFoundError:
        raise InputError(path, "missing: the fit state is incomplete") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError(
            path, f"damaged fit state ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from None
    tag = out.get("state_id")
    if tag is None or tag.tobytes().decode("ascii", "replace") != state_id:
        raise InputError(path, f"belongs to another fit than {STATE_JSON} beside it")
    missing = [k for k in keys if k not in out]
    if missing:
        raise InputError(path, f"damaged fit state (no {missing[0]})")
    return out


def read_state(directory: str | Path, meta: dict[str, Any] | None = None) -> FitState:
    """The state of the fit whose outputs are in ``directory``, checked; any problem is one
    :class:`InputError` naming the file."""
    directory = Path(directory)
    doc = read_state_meta(directory) if meta is None else meta
    sid = doc["state_id"]
    keys = ["item", "worker", "label", "item_names", "worker_names"]
    arrays = _load_npz(directory / LABELS_NPZ, doc.get("labels_id", sid), keys, _HASH_KEYS)
    names = None
    if _chunks(doc):  # labels appended by updates
        names = read_names(directory, doc)
        arrays["item"], arrays["worker"], arrays["label"] = read_codes(directory, doc)
    p_keys = (
        ["class_prior"]
        + [f"worker.{k}" for k in doc["worker_params"]]
        + [f"item.{k}" for k in doc["item_params"]]
        + [f"shared.{k}" for k in doc.get("shared_params", [])]
    )
    params = _load_npz(directory / PARAMS_NPZ, sid, p_keys)
    path = directory / LABELS_NPZ
    try:
        if names is None:
            item_names = _names_from(arrays, "item", int(doc["n_items"]))
            worker_names = _names_from(arrays, "worker", int(doc["n_workers"]))
        else:
            item_names, worker_names = names
        labels = Labels(
            arrays["item"],
            arrays["worker"],
            arrays["label"],
            item_names,
            worker_names,
            tuple(doc["class_names"]),
        )
    except Exception as exc:
        raise InputError(path, f"damaged fit state ({exc})") from None
    if (labels.n_items, labels.n_workers, labels.n_labels) != (
        doc["n_items"],
        doc["n_workers"],
        doc["n_labels"],
    ):
        raise InputError(path, f"damaged fit state (its sizes differ from {STATE_JSON}'s)")
    gold = arrays.get("gold")
    if gold is not None and gold.shape != (labels.n_items,):
        raise InputError(path, "damaged fit state (gold codes of the wrong size)")
    workers = {k: params[f"worker.{k}"] for k in doc["worker_params"]}
    items = {k: params[f"item.{k}"] for k in doc["item_params"]}
    shared = {k: params[f"shared.{k}"] for k in doc.get("shared_params", [])}
    if any(v.shape[:1] != (labels.n_workers,) for v in workers.values()) or any(
        v.shape[:1] != (labels.n_items,) for v in items.values()
    ):
        raise InputError(directory / PARAMS_NPZ, "damaged fit state (parameters of the wrong size)")
    extra = {k: v for k, v in doc.items() if k in ("ties", "duplicates", "fitted_from")}
    stats = read_stats(directory, doc)
    return FitState(
        method=doc["method"], options=doc["options"], labels=labels, gold=gold,
        class_prior=params["class_prior"], workers=workers, items=items, shared=shared, extra=extra,
        version=doc["emcrowd_version"], stats=stats,
    )  # fmt: skip
