"""Task grouping (chapter 5): lookahead inter-task affinity (TAG), network selection under a
budget, affinity-propagation grouping, and selective task group updates."""

from mtlbook.grouping.affinity import AffinityTracker, lookahead_affinity

__all__ = ["AffinityTracker", "lookahead_affinity"]
