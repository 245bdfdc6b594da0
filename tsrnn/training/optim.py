"""Adam and a plateau schedule, written on plain tensor operations.

Creating any `torch.optim` optimiser imports `torch._dynamo` (its `add_param_group` is wrapped
by `torch._disable_dynamo`), which took 1.9-2.6 s on this project's 2-core machines: more than
the whole training of a small file. These two classes do what `torch.optim.Adam` and
`ReduceLROnPlateau(mode="min", factor=0.5)` do, with the same update rule (tested against
torch's Adam) and state dicts in the same layout, so checkpoints written by earlier releases
still resume.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


class Adam:
    """Adam (Kingma and Ba, 2015) with bias correction, as torch.optim.Adam with its defaults."""

    def __init__(
        self, params: Iterable[torch.Tensor], lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        self.params = [p for p in params if p.requires_grad]
        self.lr, self.betas, self.eps = lr, betas, eps
        self.steps = 0
        self.exp_avg = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        correction1 = 1.0 - beta1**self.steps
        root2 = math.sqrt(1.0 - beta2**self.steps)
        for p, m, v in zip(self.params, self.exp_avg, self.exp_avg_sq):
            if p.grad is None:
                continue
            g = p.grad
            m.lerp_(g, 1.0 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1.0 - beta2)
            p.addcdiv_(m, (v.sqrt() / root2).add_(self.eps), value=-self.lr / correction1)

    def state_dict(self) -> dict[str, Any]:
        """torch.optim's layout: {"state": {i: {"step", "exp_avg", "exp_avg_sq"}}, "param_groups": [...]}."""
        state = {
            i: {"step": torch.tensor(float(self.steps)), "exp_avg": m.clone(), "exp_avg_sq": v.clone()}
            for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq))
        }
        group = {"lr": self.lr, "betas": self.betas, "eps": self.eps, "params": list(range(len(self.params)))}
        return {"state": state, "param_groups": [group]}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        group = saved["param_groups"][0]
        self.lr, self.betas, self.eps = float(group["lr"]), tuple(group["betas"]), float(group["eps"])
        for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq)):
            entry = saved["state"].get(i)
            if entry is not None:
                m.copy_(entry["exp_avg"])
                v.copy_(entry["exp_avg_sq"])
                self.steps = int(float(entry["step"]))


class Plateau:
    """Halve the learning rate after more than `patience` epochs without a validation loss lower
    than the best by a relative 1e-4 (ReduceLROnPlateau's defaults, mode "min")."""

    def __init__(self, opt: Adam, patience: int, factor: float = 0.5, threshold: float = 1e-4) -> None:
        self.opt, self.patience, self.factor, self.threshold = opt, patience, factor, threshold
        self.best, self.bad = math.inf, 0

    def step(self, loss: float) -> None:
        if loss < self.best * (1.0 - self.threshold):
            self.best, self.bad = loss, 0
        else:
            self.bad += 1
        if self.bad > self.patience:
            self.opt.lr *= self.factor
            self.bad = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "num_bad_epochs": self.bad, "patience": self.patience, "factor": self.factor}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        self.best, self.bad = float(saved["best"]), int(saved["num_bad_epochs"])
