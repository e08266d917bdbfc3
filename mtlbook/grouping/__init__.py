"""Task grouping (chapter 5): lookahead inter-task affinity (TAG), network selection under a
budget, affinity-propagation grouping, and selective task group updates."""

from mtlbook.grouping.affinity import AffinityTracker, lookahead_affinity
from mtlbook.grouping.clustering import (AffinityPropagationResult, affinity_propagation,
                                         group_tasks, groups_from_labels,
                                         normalize_by_self_affinity, symmetrize)
from mtlbook.grouping.selective import SelectiveGroupUpdates
from mtlbook.grouping.selection import (NetworkSelection, exhaustive_selection, greedy_selection,
                                        group_scores, select_networks)

__all__ = [
    "AffinityPropagationResult", "AffinityTracker", "NetworkSelection", "SelectiveGroupUpdates", "affinity_propagation",
    "group_tasks", "groups_from_labels", "normalize_by_self_affinity", "symmetrize", "exhaustive_selection", "greedy_selection",
    "group_scores", "lookahead_affinity", "select_networks",
]
