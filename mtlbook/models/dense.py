"""Small encoder–decoder networks for dense prediction, E of them trained side by side.

Every network here is built from one *column*: a tiny U-Net-like encoder–decoder of four
conv–BatchNorm–ReLU blocks,

    1. enc1: conv3×3 (C_in → c)                              at H × W
    2. enc2: max-pool 2, conv3×3 (c → 2c)                    at H/2 × W/2
    3. dec1: conv3×3 (2c → c)                                at H/2 × W/2
    4. dec2: nearest upsampling ×2, conv1×1 on [dec1 ; enc1] (2c → c)   at H × W (a skip
       connection brings back the fine detail of enc1)

(batch normalization, per model and channel, is what lets these tiny columns train in a few hundred
steps at a high learning rate)

and per-pixel heads (1×1 convs) to each task's channels. The architectures differ in how the K
tasks use columns:

- :class:`DenseHardSharing`: one column for all tasks, one head per task (Caruana 1997).
- :class:`DenseCrossStitch`: one column per task and a learned K×K unit α^{(j)} after every block j,
  x̃_k = Σ_l α_kl x_l at every pixel and channel (Misra et al., CVPR 2016, eq. 1), initialized at
  α_same = 0.9, α_diff = 0.1. With the units fixed to the identity it is K single-task networks
  (:func:`dense_single_task`).
- :class:`DenseMTAN`: one shared column and, per task and block, a soft-attention mask
  a_i^{(j)} = σ(h_i^{(j)}(ReLU(g_i^{(j)}([p^{(j)} ; f^{(j)}(â_i^{(j−1)})])))),  â_i^{(j)} = a_i^{(j)} ⊙ p^{(j)}
  (Liu, Johns & Davison, CVPR 2019, eq. 1), on the encoder and the decoder blocks. g and h are 1×1
  convs; f^{(j)}, shared by the tasks, maps the previous attended features to block j's resolution
  and width (with the pooling or upsampling of block j; at j = 1 the input is p^{(1)} alone). The
  paper's f is a 3×3 conv; ours is a 1×1 conv with ReLU, which keeps the attention branch cheaper
  than the network it attends to; g, h and f have no batch normalization. Task i's head reads
  â_i^{(4)}. Masks of ones give hard sharing.

Side by side. ``num_models`` = E independent copies (seeds) are one tensor program: the columns are
the groups of grouped convolutions, so E models cost one call per layer. Activations are laid out
(B, G, C, H, W) with G = E (shared columns) or E·K (task columns). Inputs are (B, C_in, H, W), the
same batch for every model, or (E, B, C_in, H, W), one batch each; each task's output is
(E, B, C_k, H, W), ready for :class:`mtlbook.dense_tasks.DenseTask`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mtlbook.models.base import MultiTaskModel


class GroupedConv(nn.Module):
    """G independent convolutions (``kernel`` × ``kernel``, same padding) in one call:
    (B, G, C_in, H, W) → (B, G, C_out, H, W), optionally followed by batch normalization of each
    group's channels. ``weight`` is (G·C_out, C_in, k, k) as for a grouped ``nn.Conv2d`` and each
    group is initialized like its own ``nn.Conv2d``. A 1×1 kernel runs as one batched matrix
    product over the groups, which is faster than a grouped convolution on the CPU."""

    def __init__(self, groups: int, c_in: int, c_out: int, kernel: int = 3, *, norm: bool = False):
        super().__init__()
        if min(groups, c_in, c_out, kernel) < 1 or kernel % 2 == 0:
            raise ValueError(f"groups, c_in, c_out must be positive and kernel odd, got "
                             f"{groups}, {c_in}, {c_out}, {kernel}")
        bound = 1.0 / math.sqrt(c_in * kernel * kernel)               # nn.Conv2d's default init
        self.weight = nn.Parameter(torch.empty(groups * c_out, c_in, kernel, kernel).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(groups * c_out).uniform_(-bound, bound))
        self.norm = nn.BatchNorm2d(groups * c_out) if norm else None
        self.groups, self.c_in, self.c_out, self.kernel = groups, c_in, c_out, kernel

    def forward(self, x: Tensor) -> Tensor:
        b, g, c, h, w = x.shape
        if g != self.groups or c != self.c_in:
            raise ValueError(f"x must be (B, {self.groups}, {self.c_in}, H, W), got {tuple(x.shape)}")
        if self.kernel == 1:
            z = x.reshape(b, g, c, h * w).permute(1, 2, 0, 3).reshape(g, c, b * h * w)
            z = torch.baddbmm(self.bias.view(g, -1, 1), self.weight.view(g, self.c_out, c), z)
            y = z.view(g, self.c_out, b, h * w).permute(2, 0, 1, 3).reshape(b, g * self.c_out, h, w)
        else:
            y = F.conv2d(x.reshape(b, g * c, h, w), self.weight, self.bias, padding=self.kernel // 2, groups=g)
        if self.norm is not None:
            y = self.norm(y)
        return y.reshape(b, g, self.c_out, h, w)


def _pool(x: Tensor) -> Tensor:
    b, g, c, h, w = x.shape
    return F.max_pool2d(x.reshape(b, g * c, h, w), 2).reshape(b, g, c, h // 2, w // 2)


def _up(x: Tensor) -> Tensor:
    b, g, c, h, w = x.shape
    return F.interpolate(x.reshape(b, g * c, h, w), scale_factor=2, mode="nearest").reshape(b, g, c, 2 * h, 2 * w)


class Column(nn.Module):
    """G encoder–decoder columns of width ``width`` (see the module docstring), run block by block."""

    num_blocks = 4

    def __init__(self, groups: int, in_channels: int, width: int):
        super().__init__()
        c = width
        self.convs = nn.ModuleList([GroupedConv(groups, in_channels, c, norm=True),
                                    GroupedConv(groups, c, 2 * c, norm=True),
                                    GroupedConv(groups, 2 * c, c, norm=True),
                                    GroupedConv(groups, 2 * c, c, kernel=1, norm=True)])
        self.widths = (c, 2 * c, c, c)

    def block(self, j: int, h: Tensor, skip: Tensor | None = None) -> Tensor:
        """Block j (0-based) on h; block 3 also reads ``skip``, the output of block 0."""
        if j == 0:
            return torch.relu(self.convs[0](h))
        if j == 1:
            return torch.relu(self.convs[1](_pool(h)))
        if j == 2:
            return torch.relu(self.convs[2](h))
        return torch.relu(self.convs[3](torch.cat([_up(h), skip], dim=2)))


def _check_args(tasks, in_channels: int, width: int, num_models: int) -> tuple:
    tasks = tuple(tasks)
    if not tasks or not all(hasattr(t, "output_size") and hasattr(t, "loss") for t in tasks):
        raise ValueError(f"tasks must be a non-empty sequence of tasks, got {tasks!r}")
    for name, v in (("in_channels", in_channels), ("width", width), ("num_models", num_models)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    return tasks


class DenseModels(MultiTaskModel):
    """Shared plumbing: input checks and layout, per-task heads, the (E, B, C_k, H, W) outputs."""

    def __init__(self, tasks: Sequence, in_channels: int, width: int, num_models: int):
        super().__init__()
        self.tasks = _check_args(tasks, in_channels, width, num_models)
        self.num_tasks, self.num_models = len(self.tasks), num_models
        self.in_channels, self.width = in_channels, width
        self.heads = nn.ModuleList(GroupedConv(num_models, width, t.output_size, kernel=1) for t in self.tasks)

    def _input(self, x: Tensor, per_model: int) -> Tensor:
        """x as (B, E·per_model, C_in, H, W), each model's input repeated for its ``per_model`` columns."""
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}"
                            + (f" of {x.dtype}" if isinstance(x, Tensor) else ""))
        e = self.num_models
        if x.dim() == 4:
            x = x.unsqueeze(1).expand(-1, e, -1, -1, -1)
        elif x.dim() == 5 and x.shape[0] == e:
            x = x.transpose(0, 1)
        else:
            raise ValueError(f"x must be (B, {self.in_channels}, H, W) or ({e}, B, {self.in_channels}, H, W), "
                             f"got {tuple(x.shape)}")
        b, _, c, h, w = x.shape
        if c != self.in_channels or h % 2 or w % 2:
            raise ValueError(f"x must have {self.in_channels} channels and even height and width, "
                             f"got {tuple(x.shape)}")
        return x.unsqueeze(2).expand(b, e, per_model, c, h, w).reshape(b, e * per_model, c, h, w)

    def _heads(self, features: Sequence[Tensor]) -> list[Tensor]:
        """Head k on features[k] (B, E, c, H, W) → (E, B, C_k, H, W)."""
        return [head(f).transpose(0, 1) for head, f in zip(self.heads, features)]

    def parameters_per_model(self) -> int:
        """Number of parameters of one of the E networks."""
        return sum(p.numel() for p in self.parameters()) // self.num_models

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.heads[self._check_task(k)].parameters())


class DenseHardSharing(DenseModels):
    """E hard-sharing encoder–decoders: one column, K per-pixel heads."""

    def __init__(self, tasks: Sequence, in_channels: int = 3, width: int = 8, num_models: int = 1):
        super().__init__(tasks, in_channels, width, num_models)
        self.column = Column(num_models, in_channels, width)

    def features(self, x: Tensor) -> Tensor:
        h = self._input(x, 1)
        skip = h = self.column.block(0, h)
        for j in range(1, Column.num_blocks):
            h = self.column.block(j, h, skip)
        return h

    def forward(self, x: Tensor) -> list[Tensor]:
        return self._heads([self.features(x)] * self.num_tasks)

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.column.parameters())


class DenseCrossStitch(DenseModels):
    """E cross-stitch networks: K columns each, a K×K unit after every block.

    ``alphas`` is (blocks, E, K, K): unit α^{(j)} of model e is ``alphas[j, e]``. With
    ``learn_alpha=False`` the units are fixed buffers (the identity gives K independent networks).
    """

    def __init__(self, tasks: Sequence, in_channels: int = 3, width: int = 8, num_models: int = 1,
                 *, alpha_same: float = 0.9, alpha_diff: float = 0.1, learn_alpha: bool = True):
        super().__init__(tasks, in_channels, width, num_models)
        from mtlbook.models.cross_stitch import stitch_init

        k = self.num_tasks
        self.column = Column(num_models * k, in_channels, width)
        init = stitch_init(k, alpha_same, alpha_diff).expand(Column.num_blocks, num_models, k, k).clone()
        if learn_alpha:
            self.alphas = nn.Parameter(init)
        else:
            self.register_buffer("alphas", init)
        self._refresh_identity()
        # Fixed units loaded from another model must not keep the identity shortcut.
        self.register_load_state_dict_post_hook(lambda module, _: module._refresh_identity())

    def _refresh_identity(self) -> None:
        """``identity``: fixed units equal to the identity, so that stitching can be skipped."""
        eye = torch.eye(self.num_tasks, dtype=self.alphas.dtype, device=self.alphas.device)
        self.identity = not isinstance(self.alphas, nn.Parameter) and bool((self.alphas == eye).all())

    def _stitch(self, j: int, h: Tensor) -> Tensor:
        if self.identity:
            return h
        b, _, c, hh, ww = h.shape
        h = h.reshape(b, self.num_models, self.num_tasks, c * hh * ww)
        return torch.matmul(self.alphas[j], h).reshape(b, -1, c, hh, ww)      # Σ_l α_kl x_l

    def features(self, x: Tensor) -> list[Tensor]:
        """The K stitched outputs of the last block, each (B, E, c, H, W)."""
        h = self._input(x, self.num_tasks)
        skip = h = self._stitch(0, self.column.block(0, h))
        for j in range(1, Column.num_blocks):
            h = self._stitch(j, self.column.block(j, h, skip))
        b, _, c, hh, ww = h.shape
        return list(h.reshape(b, self.num_models, self.num_tasks, c, hh, ww).unbind(2))

    def forward(self, x: Tensor) -> list[Tensor]:
        return self._heads(self.features(x))

    def shared_parameters(self) -> list[nn.Parameter]:
        return [self.alphas] if isinstance(self.alphas, nn.Parameter) else []


def dense_single_task(tasks: Sequence, in_channels: int = 3, width: int = 8,
                      num_models: int = 1) -> DenseCrossStitch:
    """K independent encoder–decoders per model: cross-stitch with units fixed to the identity."""
    return DenseCrossStitch(tasks, in_channels, width, num_models, alpha_same=1.0, alpha_diff=0.0,
                            learn_alpha=False)


class DenseMTAN(DenseModels):
    """E MTANs: a shared column with per-task attention masks over its four blocks."""

    def __init__(self, tasks: Sequence, in_channels: int = 3, width: int = 8, num_models: int = 1):
        super().__init__(tasks, in_channels, width, num_models)
        e, k = num_models, self.num_tasks
        self.column = Column(e, in_channels, width)
        w = self.column.widths
        # f^{(j)}, j = 2..4: shared by the tasks (grouped per model), from width w[j-1] to w[j]
        self.bridges = nn.ModuleList(GroupedConv(e, w[j - 1], w[j], kernel=1) for j in range(1, Column.num_blocks))
        self.g = nn.ModuleList(GroupedConv(e * k, w[j] if j == 0 else 2 * w[j], w[j], kernel=1)
                               for j in range(Column.num_blocks))
        self.h = nn.ModuleList(GroupedConv(e * k, w[j], w[j], kernel=1) for j in range(Column.num_blocks))

    def _bridge(self, j: int, a_hat: Tensor) -> Tensor:
        """f^{(j)} on every task's attended features: (B, E·K, c, H, W) → block j's shape."""
        b, _, c, hh, ww = a_hat.shape
        e, k = self.num_models, self.num_tasks
        z = a_hat.reshape(b, e, k, c, hh, ww).transpose(1, 2).reshape(b * k, e, c, hh, ww)
        if j == 1:
            z = _pool(z)
        if j == 3:
            z = _up(z)
        z = torch.relu(self.bridges[j - 1](z))
        _, _, c2, h2, w2 = z.shape
        return z.reshape(b, k, e, c2, h2, w2).transpose(1, 2).reshape(b, e * k, c2, h2, w2)

    def _per_task(self, p: Tensor) -> Tensor:
        b, e, c, hh, ww = p.shape
        return p.unsqueeze(2).expand(b, e, self.num_tasks, c, hh, ww).reshape(b, e * self.num_tasks, c, hh, ww)

    def masks_and_features(self, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """The masks a^{(j)} of every block, each (E, K, B, c_j, H_j, W_j), and the K attended
        outputs â_i^{(4)}, each (B, E, c, H, W)."""
        h = self._input(x, 1)
        shared, skip = [], None
        for j in range(Column.num_blocks):
            h = self.column.block(j, h, skip)
            skip = h if j == 0 else skip
            shared.append(h)
        masks, a_hat = [], None
        for j, p in enumerate(shared):
            pk = self._per_task(p)
            inp = pk if j == 0 else torch.cat([pk, self._bridge(j, a_hat)], dim=2)
            a = torch.sigmoid(self.h[j](torch.relu(self.g[j](inp))))
            a_hat = a * pk
            b, _, c, hh, ww = a.shape
            masks.append(a.reshape(b, self.num_models, self.num_tasks, c, hh, ww).permute(1, 2, 0, 3, 4, 5))
        b, _, c, hh, ww = a_hat.shape
        return masks, list(a_hat.reshape(b, self.num_models, self.num_tasks, c, hh, ww).unbind(2))

    def masks(self, x: Tensor) -> list[Tensor]:
        return self.masks_and_features(x)[0]

    def forward(self, x: Tensor) -> list[Tensor]:
        return self._heads(self.masks_and_features(x)[1])

    def shared_parameters(self) -> list[nn.Parameter]:
        return [*self.column.parameters(), *self.bridges.parameters()]

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        """Task k's head and the attention convs g, h. The attention convs of all tasks are the groups
        of one grouped conv per block, so their tensors are listed for every task (each task's
        gradient only reaches its own groups)."""
        return [*super().task_parameters(k), *self.g.parameters(), *self.h.parameters()]
