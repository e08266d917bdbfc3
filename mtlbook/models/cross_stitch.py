"""Cross-stitch networks (Misra, Shrivastava, Gupta & Hebert, CVPR 2016).

One network per task; after every stage l the K activations are mixed by a learned K×K unit,

    x̃_k^l = Σ_j α^l_kj x_j^l        (eq. 1 for K = 2: [x̃_A; x̃_B] = [[α_AA, α_AB], [α_BA, α_BB]] [x_A; x_B]),

applied at every location (i, j) and channel of a feature map. Its gradients are
∂L/∂α_kj = Σ_locations ∂L/∂x̃_k · x_j and ∂L/∂x_j = Σ_k α_kj ∂L/∂x̃_k (eq. 2).

Initialization. The paper initializes each unit as a convex combination near the identity,
α_same = 0.9 on the diagonal and α_diff = 0.1 off it (for K = 2 the rows sum to one; for K tasks we
use the same two values). Some public implementations initialize the units to **all ones**
instead. That is a pitfall: with α = 1 every row of the unit is the same, so every task receives the
same mixed activation Σ_j x_j after every stage and every head reads the same features. The model
starts as one hard-shared network (each layer the sum of the K columns' layers) with activations
growing at each stitched layer by between √K and K, and gradient descent must first break this symmetry
before any task can specialise. Near-identity units start from K almost independent networks and
let the data decide how much to share.
``alpha_same = 1, alpha_diff = 0`` is exactly K independent networks.

The paper raises the learning rate of the α by 10²–10³; put ``model.alpha_parameters()`` in its
own optimizer parameter group to do that.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mtlbook.models.base import MultiTaskModel
from mtlbook.models.columns import mix_tasks, task_columns
from mtlbook.tasks import Task


def stitch_init(num_tasks: int, alpha_same: float, alpha_diff: float) -> Tensor:
    """The K×K matrix with ``alpha_same`` on the diagonal and ``alpha_diff`` elsewhere."""
    for name, v in (("alpha_same", alpha_same), ("alpha_diff", alpha_diff)):
        if not isinstance(v, (int, float)) or not torch.isfinite(torch.tensor(float(v))):
            raise ValueError(f"{name} must be a finite number, got {v!r}")
    eye = torch.eye(num_tasks)
    return alpha_same * eye + alpha_diff * (1 - eye)


class CrossStitch(MultiTaskModel):
    """K task columns of ``kind`` ('mlp' or 'cnn') with a cross-stitch unit after each stage.

    ``alphas[l]`` is the (K, K) unit after stage l. The α are shared between tasks (they couple
    them) and are returned by ``shared_parameters()``; each column and head is task k's own.
    """

    def __init__(self, tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int | None = None, alpha_same: float = 0.9,
                 alpha_diff: float = 0.1):
        super().__init__()
        self.columns, self.heads = task_columns(tasks, input_shape, kind, width, depth, head_hidden)
        self.num_tasks = len(self.heads)
        init = stitch_init(self.num_tasks, alpha_same, alpha_diff)
        self.alphas = nn.ParameterList(nn.Parameter(init.clone()) for _ in self.columns[0])

    @property
    def num_stages(self) -> int:
        return len(self.alphas)

    def features(self, x: Tensor) -> list[Tensor]:
        """The K stitched outputs of the last stage (the inputs of the heads)."""
        hs = [x] * self.num_tasks
        for l, alpha in enumerate(self.alphas):
            hs = mix_tasks(alpha, [col[l](h) for col, h in zip(self.columns, hs)])
        return hs

    def forward(self, x: Tensor) -> list[Tensor]:
        return [head(h) for head, h in zip(self.heads, self.features(x))]

    def alpha_parameters(self) -> list[nn.Parameter]:
        return list(self.alphas)

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.alpha_parameters()

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        k = self._check_task(k)
        return [*self.columns[k].parameters(), *self.heads[k].parameters()]


def cross_stitch(tasks: Sequence[Task], input_shape, *, kind: str = "mlp", width: int = 64,
                 depth: int = 2, head_hidden: int | None = None, alpha_same: float = 0.9,
                 alpha_diff: float = 0.1) -> CrossStitch:
    """A :class:`CrossStitch` network (near-identity units α_same = 0.9, α_diff = 0.1 by default)."""
    return CrossStitch(tasks, input_shape, kind=kind, width=width, depth=depth,
                       head_hidden=head_hidden, alpha_same=alpha_same, alpha_diff=alpha_diff)
