"""Hessian-vector products H v without forming H (Pearlmutter, Neural Computation 1994).

Two engines compute H v = ∇_θ ⟨∇_θ f(θ), v⟩ for a scalar loss f of the tensors θ (flattened into
one vector of length n, in the order given):

- ``"graph"`` (default), reverse-over-reverse: the gradient g(θ) is built once with
  ``create_graph=True`` and kept; every product is one more backward pass through that graph,
  ``H v = ∂⟨g, v⟩/∂θ``, with no new forward pass. This is the cheapest per product when many
  products are taken at one fixed batch (a Krylov solve), at the price of keeping the
  double-backward graph in memory. Several vectors (K, n) are one batched backward
  (``is_grads_batched``).
- ``"forward"``, forward-over-reverse: ``torch.func.jvp(torch.func.grad(f), (θ,), (v,))``, vmapped
  over several vectors. Nothing is kept between calls (each product re-runs the forward and the
  backward pass), and forward mode saves no intermediates for a second backward pass.

Both give the Hessian of f at θ exactly (up to rounding). With a weighted loss f = Σ_i α_i f_i (α
held constant) they give H_α v = Σ_i α_i ∇²f_i v, the operator of the tangent system of Ma, Du &
Matusik (ICML 2020, eq. 6). Modules with BatchNorm must be in eval mode and dropout off (``eval()``)
so that f is a fixed function of θ; :func:`module_loss` builds f for a module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

ENGINES = ("graph", "forward")

LossFn = Callable[[Sequence[Tensor]], Tensor]


def _check_params(params: Sequence[Tensor]) -> list[Tensor]:
    if isinstance(params, Tensor):
        raise TypeError("params must be a sequence of tensors, got a single tensor; wrap it in a list")
    params = list(params)
    if not params:
        raise ValueError("params must hold at least one tensor, got an empty sequence")
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"params[{i}] must be a tensor, got {type(p).__name__}")
        if not p.is_floating_point():
            raise TypeError(f"params[{i}] must be floating point, got {p.dtype}")
    return params


def _flat(tensors: Sequence[Tensor | None], params: Sequence[Tensor], lead: tuple[int, ...]) -> Tensor:
    return torch.cat([(torch.zeros(*lead, *p.shape, dtype=p.dtype, device=p.device) if t is None else t)
                      .reshape(*lead, -1) for t, p in zip(tensors, params)], dim=-1)


def _split(flat: Tensor, params: Sequence[Tensor]) -> list[Tensor]:
    lead = flat.shape[:-1]
    pieces = torch.split(flat, [p.numel() for p in params], dim=-1)
    return [piece.reshape(*lead, *p.shape) for piece, p in zip(pieces, params)]


class HessianVectorProduct:
    """The operator v ↦ H v of the Hessian of ``loss_fn`` at ``params``, for v of shape (n,) or
    (K, n) (K vectors as rows); returns the same shape, in the parameters' dtype and on their device
    (v is cast and moved there first).

    ``loss_fn(tensors)`` must return a scalar computed from ``tensors`` (same shapes as ``params``);
    for ``engine="graph"`` it is called once on ``params`` themselves (which must require grad),
    for ``engine="forward"`` on functional copies at every call. ``products`` counts the vectors
    multiplied so far (one per row), for cost tables.
    """

    def __init__(self, loss_fn: LossFn, params: Sequence[Tensor], *, engine: str = "graph"):
        if not callable(loss_fn):
            raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
        self.params = _check_params(params)
        self.engine, self.loss_fn = engine, loss_fn
        self.numel = sum(p.numel() for p in self.params)
        self.products = 0
        self._grad: list[Tensor] | None = None
        if engine == "graph":
            for i, p in enumerate(self.params):
                if not p.requires_grad:
                    raise ValueError(f"params[{i}] must require grad for engine='graph'")
            loss = loss_fn(self.params)
            self._check_loss(loss)
            self._grad = list(torch.autograd.grad(loss, self.params, create_graph=True,
                                                  allow_unused=True))
            self._used = [g is not None and g.requires_grad for g in self._grad]

    @staticmethod
    def _check_loss(loss: object) -> None:
        if not isinstance(loss, Tensor) or loss.dim() != 0:
            shape = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
            raise ValueError(f"loss_fn must return a scalar tensor, got {shape}")

    def _check_vectors(self, v: Tensor) -> Tensor:
        if not isinstance(v, Tensor):
            raise TypeError(f"v must be a tensor of shape (n,) or (K, n), got {type(v).__name__}")
        if v.dim() not in (1, 2) or v.shape[-1] != self.numel:
            raise ValueError(f"v must have shape ({self.numel},) or (K, {self.numel}), got {tuple(v.shape)}")
        # Cast to the parameters' dtype and move to their device (a no-op when both already match).
        return v.to(device=self.params[0].device, dtype=self.params[0].dtype)

    def __call__(self, v: Tensor) -> Tensor:
        v = self._check_vectors(v)
        single = v.dim() == 1
        rows = v.unsqueeze(0) if single else v
        self.products += rows.shape[0]
        out = self._graph(rows) if self.engine == "graph" else self._forward(rows)
        return out[0] if single else out

    def _graph(self, rows: Tensor) -> Tensor:
        assert self._grad is not None
        k = rows.shape[0]
        grads = [g for g, u in zip(self._grad, self._used) if u]
        if not grads:                                   # f is linear in θ: H = 0
            return torch.zeros_like(rows)
        pieces = [piece for piece, u in zip(_split(rows, self.params), self._used) if u]
        if k == 1:
            out = torch.autograd.grad(grads, self.params, grad_outputs=[p[0] for p in pieces],
                                      retain_graph=True, allow_unused=True)
            return _flat(out, self.params, ()).unsqueeze(0)
        out = torch.autograd.grad(grads, self.params, grad_outputs=pieces, retain_graph=True,
                                  allow_unused=True, is_grads_batched=True)
        return _flat(out, self.params, (k,))

    def _forward(self, rows: Tensor) -> Tensor:
        primals = tuple(p.detach() for p in self.params)

        def grad_fn(*tensors: Tensor) -> tuple[Tensor, ...]:
            return torch.func.grad(lambda ts: self.loss_fn(list(ts)))(tensors)

        def one(vec: Tensor) -> Tensor:
            tangents = tuple(_split(vec, self.params))
            _, hv = torch.func.jvp(grad_fn, primals, tangents)
            return torch.cat([h.reshape(-1) for h in hv])

        return torch.func.vmap(one)(rows)


def hvp(loss_fn: LossFn, params: Sequence[Tensor], v: Tensor, *, engine: str = "graph") -> Tensor:
    """H v for one vector (n,) or several (K, n) in one call; see :class:`HessianVectorProduct`.
    To take many products at one point, build the operator once and call it repeatedly."""
    return HessianVectorProduct(loss_fn, params, engine=engine)(v)


def module_loss(model: nn.Module, loss_of_outputs: Callable[[Callable[..., object]], Tensor]
                ) -> tuple[LossFn, list[Tensor]]:
    """(loss_fn, params) for the trainable parameters of ``model``: ``loss_fn(tensors)`` runs
    ``loss_of_outputs(call)``, where ``call(*inputs)`` evaluates the model with its parameters
    replaced by ``tensors`` (``torch.func.functional_call``; buffers such as BatchNorm's running
    statistics are used as they are). Put the model in eval mode first: in train mode BatchNorm's
    batch statistics and dropout make the loss a different function at every call."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    if not named:
        raise ValueError("model has no trainable parameters")
    names = [name for name, _ in named]

    def loss_fn(tensors: Sequence[Tensor]) -> Tensor:
        mapping = dict(zip(names, tensors))
        return loss_of_outputs(lambda *inputs: torch.func.functional_call(model, mapping, inputs))

    return loss_fn, [p for _, p in named]
