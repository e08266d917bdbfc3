"""Task grouping (chapter 5): lookahead inter-task affinity (TAG), network selection under a
budget, affinity-propagation grouping, and selective task group updates."""

from mtlbook.grouping.affinity import AffinityTracker, lookahead_affinity
from mtlbook.grouping.arena import (SideBySide, pairwise_transfer, random_groups, served_metrics,
                                   task_masks, train_side_by_side)
from mtlbook.grouping.clustering import (AffinityPropagationResult, affinity_propagation,
                                         affinity_propagation_batch, group_tasks, group_tasks_batch,
                                         groups_from_labels,
                                         normalize_by_self_affinity, symmetrize)
from mtlbook.grouping.ensemble import EnsembleSelectiveUpdates, MemberAdam
from mtlbook.grouping.selective import SelectiveGroupUpdates, proximal_credit
from mtlbook.grouping.selection import (NetworkSelection, exhaustive_selection, greedy_selection,
                                        group_scores, select_networks)

__all__ = [
    "AffinityPropagationResult", "AffinityTracker", "NetworkSelection", "SelectiveGroupUpdates", "affinity_propagation",
    "affinity_propagation_batch", "group_tasks", "group_tasks_batch", "groups_from_labels", "normalize_by_self_affinity", "symmetrize", "exhaustive_selection", "greedy_selection",
    "group_scores", "lookahead_affinity", "select_networks", "EnsembleSelectiveUpdates", "MemberAdam",
    "SideBySide", "pairwise_transfer", "proximal_credit", "random_groups", "served_metrics", "task_masks",
    "train_side_by_side",
]
