"""Analysis over fitted models: what the labels and a fit say, with or without gold.

* :mod:`~.aggregate` — one entry point over every method (:func:`~.aggregate.aggregate`), the
  :class:`~.aggregate.Aggregation` every command works with, and the refit without flagged annotators.
* :mod:`~.evaluate` — scores against gold labels (accuracy, intervals, calibration): ``compare``.
* :mod:`~.selection` — choosing a method without gold (``--method auto``).
* :mod:`~.quality` — each annotator's estimated accuracy, spammer score and flags.
* :mod:`~.agreement` — inter-annotator agreement (percent, Fleiss, Krippendorff, ...).
* :mod:`~.relabel` — which items one more label helps most.

May import: :mod:`emcrowd.models`, :mod:`emcrowd.io`, and the core modules (:mod:`emcrowd.data`,
:mod:`emcrowd.errors`, :mod:`emcrowd.budget`). Never the output tables, the HTML report, the Dask
engine or the CLI.
"""
