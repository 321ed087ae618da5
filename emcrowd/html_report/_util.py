"""Small helpers of the page's data shared by its modules: numbers as JSON-ready lists, positions of
ids in a list of names."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_FLOAT_DIGITS = 4


def _floats(values: np.ndarray) -> list[float | None]:
    rounded = np.round(np.asarray(values, dtype=float), _FLOAT_DIGITS)
    out = rounded.tolist()
    if not np.isfinite(rounded).all():
        out = [v if math.isfinite(v) else None for v in out]
    return out


def _index_of(values: Any, names: Any) -> np.ndarray:
    """For each of ``values``, its position in ``names`` (-1 when absent), vectorised by Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    values = pa.array(np.asarray(values, dtype=object), type=pa.string())
    names = pa.array(np.asarray([str(n) for n in names], dtype=object), type=pa.string())
    return pc.index_in(values, value_set=names).fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
