"""Crops, batches and evaluation windows, as ``src/train/dataset.rs`` makes them.

Each epoch: per piece ``ceil(n / (crop_len + 1))`` random crops starting on the piece's crop starts,
each transposed by a random amount in ±``transpose`` and stretched by one of five factors in
1 ± ``stretch``; crops sorted by length into batches of about ``batch_tokens`` padded tokens,
and the batches shuffled. The random numbers come from NumPy's PCG64 seeded by (seed, epoch), so
every process of a distributed run builds the same epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from . import vocab as V
from .shards import Pieces


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of one epoch's crops and order."""
    return np.random.default_rng([seed, epoch])


def _crop_start(n: int, crop_len: int, valid: np.ndarray, has_starts: bool, rng) -> int:
    if n <= crop_len + 1:
        return 0
    if not has_starts:
        return int(rng.integers(0, n - crop_len))
    if len(valid) == 0:
        return 0
    return int(valid[rng.integers(0, len(valid))])


def augment(kind: str, crop: list[int], transpose: int, stretch: float, crop_len: int, rng) -> list[int]:
    """One crop transposed and stretched at random, cut back to ``crop_len + 1`` tokens."""
    k = int(rng.integers(-transpose, transpose + 1)) if transpose > 0 else 0
    out = V.transpose(kind, crop, k) or crop
    if stretch > 0.0:
        factor = 1.0 + stretch * int(rng.integers(-2, 3)) / 2.0
        stretched = V.stretch(kind, out, factor)
        if stretched is not None:
            out = stretched[: crop_len + 1]
    return out


def epoch_batches(data: Pieces, kind: str, crop_len: int, batch_tokens: int, transpose: int,
                  stretch: float, rng) -> list[list[list[int]]]:
    """One epoch's batches of crops (lists of token ids, ``crop_len + 1`` at most)."""
    crops: list[list[int]] = []
    for seq, starts in zip(data.seqs, data.starts):
        n = len(seq)
        if n < 2:
            continue
        count = max(-(-n // (crop_len + 1)), 1)
        valid = starts[(starts + 1 < n) & ((n <= crop_len + 1) | (starts + crop_len < n))]
        for _ in range(count):
            start = _crop_start(n, crop_len, valid, len(starts) > 0, rng)
            crop = seq[start : min(n, start + crop_len + 1)].tolist()
            crops.append(augment(kind, crop, transpose, stretch, crop_len, rng))
    order = rng.permutation(len(crops))
    crops = sorted((crops[i] for i in order), key=len)
    batches: list[list[list[int]]] = []
    current: list[list[int]] = []
    longest = 0
    for crop in crops:
        longest_with = max(longest, len(crop))
        if current and longest_with * (len(current) + 1) > batch_tokens:
            batches.append(current)
            current, longest_with = [], len(crop)
        current.append(crop)
        longest = longest_with
    if current:
        batches.append(current)
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class Batch:
    """Inputs, next-token targets and a mask of real positions, ``[B, L]`` each."""

    input: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    tokens: int


def make_batch(crops: list[list[int]], device="cpu") -> Batch:
    """Pads crops into a batch (``dataset::make_batch``)."""
    length = max(max((len(c) - 1 for c in crops), default=1), 1)
    b = len(crops)
    inp = np.full((b, length), V.PAD, dtype=np.int64)
    tgt = np.full((b, length), V.PAD, dtype=np.int64)
    mask = np.zeros((b, length), dtype=np.float32)
    for i, c in enumerate(crops):
        c = np.asarray(c, dtype=np.int64)
        n = len(c) - 1
        inp[i, :n], tgt[i, :n], mask[i, :n] = c[:-1], c[1:], 1.0
    to = lambda a: torch.from_numpy(a).to(device)  # noqa: E731
    return Batch(to(inp), to(tgt), to(mask), int(mask.sum()))


def eval_windows(data: Pieces, window: int) -> list[tuple[list[int], int]]:
    """Windows of at most ``window + 1`` tokens, each after the first overlapping the previous by
    half and scoring only its new tokens: (crop, first scored target) (``dataset::eval_windows``)."""
    out = []
    stride = max(window // 2, 1)
    for seq in data.seqs:
        if len(seq) < 2:
            continue
        start = scored_until = 0
        while True:
            end = min(len(seq), start + window + 1)
            first = max(scored_until, start + 1) - start - 1
            out.append((seq[start:end].tolist(), first))
            scored_until = end
            if end == len(seq):
                break
            start += stride
    return out
