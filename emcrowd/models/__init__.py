"""The aggregation models: pure computations over :class:`emcrowd.Labels`, no I/O, no printing."""

from emcrowd.models.glad import GLAD
from emcrowd.models.majority import MajorityVote, majority_vote

__all__ = ["GLAD", "MajorityVote", "majority_vote"]
