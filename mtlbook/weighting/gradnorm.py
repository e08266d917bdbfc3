"""GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018, eqs. 1-2 and Algorithm 1)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from mtlbook.gradients import flatten_grads
from mtlbook.strategy import StepContext, Strategy
from mtlbook.weighting.base import DeferredChecks, check_losses, check_num_tasks, task_gradient_norms


def _split_parameters(ctx: StepContext, layer: list[Tensor]):
    """(shared, heads) when the step can reuse the graph: the model exposes its representation z
    (``encode``/``decode``, so ``ctx.features`` is set), one output per task, and its trainable
    parameters are exactly its shared ones (W among them) plus one group per task; else None."""
    model, outputs = ctx.model, ctx.outputs
    if ctx.features is None or outputs is None or len(outputs) != len(ctx.tasks) \
            or not hasattr(model, "shared_parameters") or not hasattr(model, "task_parameters"):
        return None
    shared = [p for p in model.shared_parameters() if p.requires_grad]
    heads = [[p for p in model.task_parameters(k) if p.requires_grad] for k in range(len(outputs))]
    ids = [id(p) for p in shared] + [id(p) for h in heads for p in h]
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    if len(ids) != len(set(ids)) or set(ids) != trainable or not {id(p) for p in layer} <= set(ids[:len(shared)]):
        return None
    return shared, heads


def _weighted_backward_through_features(losses: Tensor, ctx: StepContext, layer: list[Tensor],
                                        weights: Tensor, shared: list[Tensor],
                                        heads: list[list[Tensor]]) -> Tensor:
    """Fill every ``.grad`` with Σ_k w_k ∇L_k and return ‖∇_W L_k‖ (..., K), reusing one graph.

    One pass from the losses to the task outputs gives every ∂L_k/∂y_k at once (L_k depends on y_k
    only, so the gradient of Σ_k L_k at y_k is task k's own); then one pass per task from y_k gives
    its head's gradient, its gradient at z and ∇_W L_k together (no zero cotangent runs through the
    other heads); W's update is Σ_k w_k ∇_W L_k from these, and the weighted sum of the gradients at
    z goes back through the rest of the trunk once, without recomputing W's gradient. Same values as
    the K passes of :func:`task_gradient_norms` plus a backward of Σ w_k L_k, at the cost of one
    backward and K passes through W's layer."""
    z, lead, outputs = ctx.features, losses.shape[:-1], ctx.outputs
    below = [p for p in shared if all(p is not q for q in layer)]
    g_outs = torch.autograd.grad(losses.sum(), outputs, retain_graph=True)
    grad_z, per_task = [], []
    for k, (out, g_out) in enumerate(zip(outputs, g_outs)):
        g = torch.autograd.grad(out, [z, *layer, *heads[k]], grad_outputs=g_out, retain_graph=True,
                                allow_unused=True)
        grad_z.append(g[0])
        per_task.append(g[1:1 + len(layer)])
        w_k = weights[..., k]
        for p, gp in zip(heads[k], g[1 + len(layer):]):
            if gp is not None:
                scale = w_k.reshape(*lead, *([1] * (gp.dim() - len(lead))))
                p.grad = gp * scale if p.grad is None else p.grad + gp * scale
    g_w = [None if gs[0] is None else torch.stack(gs) for gs in zip(*per_task)]
    norms = flatten_grads(g_w, layer, (len(grad_z), *lead)).norm(dim=-1).movedim(0, -1)
    coef = weights.movedim(-1, 0)                                                   # (K, *lead)
    for p, gp in zip(layer, g_w):             # W's update from its per-task gradients, no new pass
        if gp is not None:
            gp = (coef.reshape(*coef.shape, *([1] * (gp.dim() - coef.dim()))) * gp).sum(0)
            p.grad = gp if p.grad is None else p.grad + gp
    if below:                                 # the rest of the trunk: one backward, W's grad skipped
        total = sum(gz * weights[..., k].reshape(*lead, *([1] * (gz.dim() - len(lead))))
                    for k, gz in enumerate(grad_z))
        torch.autograd.backward(z, total, inputs=below)
    return norms


def _gradnorm_terms(weights: Tensor, grad_norms: Tensor, losses: Tensor, initial_losses: Tensor,
                    alpha: float | Tensor) -> tuple[Tensor, Tensor]:
    """(G, target): G_k = w_k ‖∇_W L_k‖ and the constant target Ḡ · r_k^α of eq. 2."""
    g = weights * grad_norms.detach()
    ratio = losses.detach() / initial_losses
    r = ratio / ratio.mean(-1, keepdim=True)
    a = torch.as_tensor(alpha, dtype=g.dtype, device=g.device)
    a = a[..., None] if a.dim() else a
    target = (g.mean(-1, keepdim=True) * r.pow(a)).detach()
    return g, target


def gradnorm_loss(weights: Tensor, grad_norms: Tensor, losses: Tensor, initial_losses: Tensor,
                  alpha: float | Tensor) -> Tensor:
    """L_grad = Σ_k |G_k − Ḡ · r_k^α|, G_k = w_k ‖∇_W L_k‖, Ḡ = mean G, r_k = L̃_k / mean L̃,
    L̃_k = L_k / L_k(0) (eq. 2). The target Ḡ · r^α is held constant (detached), so L_grad is
    differentiated through G_k = w_k ‖∇_W L_k‖ only, i.e. with respect to the weights. Every input is
    (..., K) for side-by-side models (summed over them); ``alpha`` is a float or one value per model."""
    g, target = _gradnorm_terms(weights, grad_norms, losses, initial_losses, alpha)
    return (g - target).abs().sum()


def gradnorm_loss_grad(weights: Tensor, grad_norms: Tensor, losses: Tensor, initial_losses: Tensor,
                       alpha: float | Tensor) -> Tensor:
    """∂L_grad/∂w_k = sign(G_k − target_k) ‖∇_W L_k‖ in closed form (the target held constant):
    what autograd gives for :func:`gradnorm_loss`, without building and running its graph."""
    g, target = _gradnorm_terms(weights.detach(), grad_norms, losses, initial_losses, alpha)
    return ((g - target).sign() * grad_norms.detach()).to(weights.dtype)


class GradNorm(Strategy, DeferredChecks):
    """GradNorm: learn loss weights w so that the weighted gradient norms G_k = ‖∇_W w_k L_k‖ on the
    last shared layer W follow each task's relative inverse training rate r_k^α.

    Every step: the model is updated with Σ w_k L_k (w held fixed, heads weighted too); L_grad (see
    :func:`gradnorm_loss`) gives ∂/∂w, and the weights' own optimizer (Adam, ``lr``) steps; then the
    weights are clipped at ``min_weight`` and renormalized to Σw = K. L(0) is the first step's loss.
    The paper gives neither the weights' learning rate nor its optimizer; ``lr`` = 0.025 is a default
    of this package, not the paper's.
    ``layer``: a function of the model giving W's module (default ``model.last_shared_layer()``).
    α (``alpha``) is the asymmetry: 0 equalizes the G_k, larger values pull slow tasks harder.
    State: ``task_weights`` (an ``nn.Parameter`` (K,)), ``initial_losses``, ``optimizer``.
    Cost: K extra passes through W's layer when the model exposes its representation z
    (``encode``/``decode``) and splits its parameters into shared and per-task ones (the graph is
    reused: see ``_weighted_backward_through_features``); otherwise K extra backward passes that stop
    at W.

    Side by side: with ``num_models=E`` (a model such as ``EnsembleHardSharing`` whose losses are
    (E, K) and whose W has a leading model dimension) each model has its own weights (E, K), its own
    L(0) and, if ``alpha`` is a sequence of E values, its own α; since Adam is element-wise this is
    exactly E separate GradNorms.
    """

    def __init__(self, num_tasks: int, alpha: float | Sequence[float] = 1.5, *, lr: float = 0.025,
                 layer: Callable[[nn.Module], nn.Module] | None = None, min_weight: float = 1e-6,
                 num_models: int | None = None):
        self.num_tasks = check_num_tasks(num_tasks)
        if num_models is not None and (isinstance(num_models, bool) or not isinstance(num_models, int)
                                       or num_models < 1):
            raise ValueError(f"num_models must be None or an int >= 1, got {num_models!r}")
        a = torch.as_tensor(alpha, dtype=torch.float32)
        if a.dim() > 1 or not bool(torch.isfinite(a).all()) or bool((a < 0).any()):
            raise ValueError(f"alpha must be finite and >= 0 (a float or one per model), got {alpha!r}")
        if a.dim() == 1 and (num_models is None or len(a) != num_models):
            raise ValueError(f"alpha has {len(a)} values: one per model needs num_models={len(a)}, "
                             f"got num_models={num_models!r}")
        if not lr > 0:
            raise ValueError(f"lr must be > 0, got {lr!r}")
        if not 0 < min_weight < 1:
            raise ValueError(f"min_weight must be in (0, 1), got {min_weight!r}")
        self.alpha = float(a) if a.dim() == 0 else a
        self.min_weight = float(min_weight)
        self.layer = layer
        self.num_models = num_models
        shape = (num_tasks,) if num_models is None else (num_models, num_tasks)
        self.task_weights = nn.Parameter(torch.ones(shape))
        self.optimizer = torch.optim.Adam([self.task_weights], lr=lr)
        self.initial_losses: Tensor | None = None

    def _layer_parameters(self, model: nn.Module) -> list[Tensor]:
        if self.layer is not None:
            module = self.layer(model)
        elif hasattr(model, "last_shared_layer"):
            module = model.last_shared_layer()
        else:
            raise ValueError(f"{type(model).__name__} has no last_shared_layer(): pass layer=... "
                             "to name GradNorm's W")
        params = [p for p in module.parameters() if p.requires_grad]
        if not params:
            raise ValueError("GradNorm's layer W has no trainable parameters")
        return params

    def step(self, ctx: StepContext) -> tuple[Tensor, Tensor]:
        ctx.optimizer.zero_grad(set_to_none=True)
        self.optimizer.zero_grad(set_to_none=True)
        losses = ctx.compute_losses()
        self.check_task_losses(losses, ctx)
        w = self.task_weights
        if losses.shape != w.shape:
            expected = "(K,) of one model" if self.num_models is None else f"({self.num_models}, K)"
            raise ValueError(f"GradNorm needs losses {expected} with K = {self.num_tasks}, got "
                             f"{tuple(losses.shape)}")
        if w.device != losses.device:
            w.data = w.data.to(losses.device)
        if self.initial_losses is None:
            check_losses(losses.detach(), self.num_tasks)
            if bool((losses.detach() <= 0).any()):
                raise ValueError(f"GradNorm needs positive initial losses, got {losses.tolist()}")
            self.initial_losses = losses.detach().clone()
        params = self._layer_parameters(ctx.model)
        used = w.detach().clone()
        split = _split_parameters(ctx, params)
        if split is None:                       # generic path: K passes to W, then the weighted loss
            norms = task_gradient_norms(losses, params)
            (used * losses).sum().backward()
        else:
            norms = _weighted_backward_through_features(losses, ctx, params, used, *split)
        w.grad = gradnorm_loss_grad(w, norms, losses, self.initial_losses, self.alpha)
        ctx.optimizer.step()
        self.optimizer.step()
        with torch.no_grad():
            w.clamp_(min=self.min_weight)
            w.mul_(self.num_tasks / w.sum(-1, keepdim=True))
        return losses.detach(), used
