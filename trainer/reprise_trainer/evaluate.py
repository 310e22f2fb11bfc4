"""Validation NLL with ``reprise eval``'s windowing: each piece in half-overlapping windows of the
model's context, every token scored once (``train::evaluate``); split over the processes of a
distributed run and summed."""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F

from .data import eval_windows, make_batch
from .model import MusicTransformer
from .shards import Pieces


def masked_nll(logits: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
    """(summed NLL, token count) of ``logits`` ``[B, L, V]`` against ``target`` under ``mask``."""
    nll = F.cross_entropy(logits.float().flatten(0, 1), target.flatten(), reduction="none")
    return (nll * mask.flatten()).sum(), mask.sum()


def windows_for(data: Pieces, max_len: int, limit: int | None):
    """The scored windows, or with ``limit`` an evenly spread fixed subset of about that many tokens."""
    windows = eval_windows(data, max_len)
    if limit:
        total = sum(len(w[0]) for w in windows)
        every = max(-(-total // max(limit, 1)), 1)
        windows = windows[::every]
    return windows


@torch.no_grad()
def nll(model: MusicTransformer, data: Pieces, batch_tokens: int, limit: int | None = None,
        device="cpu", autocast: bool = False) -> tuple[float, int]:
    """Mean NLL per token (nats) of ``data`` and the tokens scored, over all processes."""
    was_training = model.training
    model.eval()
    windows = windows_for(data, model.cfg.max_len, limit)
    if dist.is_initialized():
        windows = windows[dist.get_rank() :: dist.get_world_size()]
    windows.sort(key=lambda w: len(w[0]))
    total = torch.zeros(2, dtype=torch.float64, device=device)
    i = 0
    while i < len(windows):
        longest = len(windows[i][0])
        j = i + 1
        while j < len(windows) and len(windows[j][0]) * (j - i + 1) <= max(batch_tokens, longest):
            j += 1
        group = windows[i:j]
        batch = make_batch([w[0] for w in group], device)
        mask = batch.mask.clone()
        for row, (_, first) in enumerate(group):
            mask[row, :first] = 0.0
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=autocast):
            logits = model(batch.input)
        s, n = masked_nll(logits, batch.target, mask)
        total += torch.stack([s.double(), n.double()])
        i = j
    if dist.is_initialized():
        dist.all_reduce(total)
    model.train(was_training)
    return float(total[0] / total[1].clamp(min=1)), int(total[1])
