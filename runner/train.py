"""The one training loop, shared by the embedded model's first training and by QAT."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def train_epochs(model, x, y, *, epochs: int, lr: float, batch: int, seed: int, desc: str):
    """Adam + cross-entropy over (x, y); one progress line per epoch; returns epoch losses."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses: list[float] = []
    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for i in range(0, len(xt), batch):
            idx = order[i : i + batch]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(round(total / len(xt), 6))
        log.info("%s: epoch %d/%d loss %.4f", desc, epoch + 1, epochs, losses[-1])
    return losses
