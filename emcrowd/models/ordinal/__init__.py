"""Models for ordered grades (ratings, relevance grades, Likert scales): one grade per item, where a
label two grades off is a worse mistake than one grade off.

:mod:`~.gaussian` is Dawid-Skene with each annotator's confusion over grades shaped by distance (a
discretised Gaussian with a per-annotator bias and spread); :mod:`~.simulate` draws graded labels for
tests and benchmarks. The labels' classes are taken in code order, lowest grade first
(:func:`emcrowd.io.ordinal.as_ordinal` makes such labels).

May import: :mod:`emcrowd.models._base`, :mod:`emcrowd.models.classification` (the confusion-matrix
passes over the labels), :mod:`emcrowd.data`, :mod:`emcrowd.errors` and :mod:`emcrowd.io`. Never
:mod:`emcrowd.analysis` or anything above it.
"""
