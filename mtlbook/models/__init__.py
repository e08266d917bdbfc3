"""Multi-task architectures (chapter 2) and the backbones every chapter reuses."""

from mtlbook.models.backbones import backbone, hard_sharing, heads_for, mlp, single_task_networks, small_cnn
from mtlbook.models.base import (HardSharing, InputShape, MultiTaskModel, SingleTaskNetworks,
                                 copy_parameters_, count_parameters)
from mtlbook.models.cross_stitch import CrossStitch, cross_stitch
from mtlbook.models.fully_adaptive import SharingTree, TreeNetwork, task_affinity, widen
from mtlbook.models.side_by_side import SideBySide, train_side_by_side
from mtlbook.models.ensemble import EnsembleHardSharing, EnsembleLinear, EnsembleMLP
from mtlbook.models.mmoe import MixtureOfExperts, mmoe, omoe, shared_bottom
from mtlbook.models.mrn import MultilinearRelationship, mrn
from mtlbook.models.mtan import MTAN, mtan
from mtlbook.models.sluice import Sluice, sluice
from mtlbook.models.soft_sharing import PenalizedStrategy, SoftSharing, soft_sharing

__all__ = [
    "CrossStitch", "EnsembleHardSharing", "EnsembleLinear", "EnsembleMLP", "HardSharing", "InputShape",
    "MTAN", "MixtureOfExperts", "MultiTaskModel", "MultilinearRelationship", "PenalizedStrategy", "SingleTaskNetworks", "Sluice",
    "SoftSharing", "backbone", "copy_parameters_", "count_parameters", "cross_stitch", "hard_sharing",
    "heads_for", "mlp", "mmoe", "mrn", "mtan", "omoe", "shared_bottom", "single_task_networks", "sluice", "small_cnn",
    "soft_sharing", "SharingTree", "SideBySide", "TreeNetwork", "task_affinity", "train_side_by_side", "widen",
]
