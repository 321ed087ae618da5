"""Models for choosing one class per item among unordered classes.

Each module is one method: :mod:`~.majority` (the vote, and vote counting every model starts from),
:mod:`~.glad`, :mod:`~.dawid_skene` (Dawid-Skene and one-coin), :mod:`~.bayesian` (Bayesian
Dawid-Skene), :mod:`~.ebcc`, :mod:`~.mace` (competence and spam distributions). The ``_*_kernels``
modules are their compiled (numba) passes over the labels, and :mod:`~._observations` the label layout
those passes share.

May import: :mod:`emcrowd.models._base`, :mod:`emcrowd.data`, :mod:`emcrowd.errors` (and :mod:`emcrowd.io`
for inputs given as tables). Never :mod:`emcrowd.analysis` or anything above it.
"""
