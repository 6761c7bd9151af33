"""The one training loop, shared by the embedded models' first training and by QAT."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

# The loss each task trains with: cross-entropy on class logits, mean squared error on values.
TASK_LOSS = {"classification": "cross_entropy", "regression": "mse"}


def _loss(name: str, out, y):
    """The named loss of a batch; a regression output of shape (n, 1) is compared as (n,)."""
    from torch import nn

    if name == "cross_entropy":
        return nn.functional.cross_entropy(out, y)
    if name == "mse":
        return nn.functional.mse_loss(out.reshape(y.shape), y)
    raise ValueError(f"unknown loss {name!r}; valid: cross_entropy, mse")


def train_epochs(
    model,
    x,
    y,
    *,
    epochs: int,
    lr: float,
    batch: int,
    seed: int,
    desc: str,
    loss: str = "cross_entropy",
) -> list[float]:
    """Adam + `loss` (cross_entropy or mse) over (x, y); one line per epoch; epoch losses."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            value = _loss(loss, model(xt[idx]), yt[idx])
            opt.zero_grad()
            value.backward()
            opt.step()
            total += value.item() * len(idx)
        losses.append(round(total / len(xt), 6))
        log.info("%s: epoch %d/%d loss %.4f", desc, epoch + 1, epochs, losses[-1])
    return losses
