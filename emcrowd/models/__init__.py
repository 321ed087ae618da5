"""The aggregation models: pure computations over :class:`emcrowd.Labels`, no I/O, no printing."""

from emcrowd.models.bayesian import BayesianDawidSkene
from emcrowd.models.dawid_skene import DawidSkene, OneCoin
from emcrowd.models.ebcc import EBCC
from emcrowd.models.glad import GLAD
from emcrowd.models.majority import MajorityVote, majority_vote

__all__ = ["EBCC", "GLAD", "BayesianDawidSkene", "DawidSkene", "MajorityVote", "OneCoin", "majority_vote"]
