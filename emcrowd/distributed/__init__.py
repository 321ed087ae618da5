"""The Dask engine: the EM fits of :mod:`emcrowd.models` over an item-partitioned Parquet data set
(:mod:`emcrowd.io.partition`) on a Dask cluster. Needs the ``dask`` extra (``emcrowd[dask]``);
nothing else in emcrowd imports this package.

Each partition is read once by a worker and kept in its memory; per EM iteration the annotator
parameters go out to the workers, each partition runs the in-memory engine's compiled kernels on its
items, and the per-annotator sums come back by a reduction. The fit is the in-memory one: same
start, same M-step and E-step, same stopping rule, with sums that differ by rounding only. The
confusion-matrix models' loop is pipelined (:mod:`.pipeline`): their M-step runs on the cluster and
the next iteration is submitted before the driver has the objective.

May import: :mod:`emcrowd.analysis`, :mod:`emcrowd.models`, :mod:`emcrowd.io` and the core modules; only
the CLI imports it.
"""

from emcrowd.distributed.engine import (
    DASK_MODELS,
    METHODS,
    Cluster,
    DaskDawidSkene,
    DaskGLAD,
    DaskOneCoin,
    DaskOrdinalDawidSkene,
    connect,
    fit_dataset,
    local_cluster,
    majority_vote_cluster,
)

__all__ = [
    "DASK_MODELS",
    "METHODS",
    "Cluster",
    "DaskDawidSkene",
    "DaskGLAD",
    "DaskOneCoin",
    "DaskOrdinalDawidSkene",
    "connect",
    "fit_dataset",
    "local_cluster",
    "majority_vote_cluster",
]
