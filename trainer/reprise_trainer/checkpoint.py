"""Resumable checkpoints: the weights, AdamW's moments and the run's place in its data, written by
the first process only and independent of how many processes wrote them, so a run paused on N
processes goes on on M."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .weights import atomic_write

CHECKPOINT = "checkpoint.pt"


@dataclass
class RunState:
    """Where a run is: optimiser steps done, the epoch and the micro-batches of it consumed, the best
    validation so far (and, for a fine-tune, the starting model's), and the seconds and tokens it
    has taken."""

    step: int = 0
    epoch: int = 0
    cursor: int = 0
    best_valid_nll: float | None = None
    initial_valid_nll: float | None = None
    best_step: int = 0
    since_best: int = 0
    elapsed_s: float = 0.0
    tokens: int = 0
    stop: str = "running"


def save(out: Path, model, optimizer, state: RunState, config: dict) -> None:
    """Writes ``out/checkpoint.pt`` all-or-nothing."""
    blob = {
        "format": "reprise-trainer-checkpoint",
        "version": 1,
        "config": config,
        "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "optimizer": optimizer.state_dict(),
        "state": asdict(state),
    }
    atomic_write(Path(out) / CHECKPOINT, lambda tmp: torch.save(blob, tmp))


def load(out: Path, model, optimizer, device) -> tuple[RunState, dict]:
    """Restores a checkpoint into ``model`` and ``optimizer``; returns the run state and the config."""
    path = Path(out) / CHECKPOINT
    if not path.is_file():
        raise ValueError(f"{path}: no checkpoint to resume from")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{path}: not a readable checkpoint: {e}") from e
    if blob.get("format") != "reprise-trainer-checkpoint":
        raise ValueError(f"{path}: not a reprise-trainer checkpoint")
    model.load_state_dict(blob["model"])
    optimizer.load_state_dict(blob["optimizer"])
    for group in optimizer.state.values():
        for k, v in group.items():
            if torch.is_tensor(v) and k != "step":
                group[k] = v.to(device)
    return RunState(**blob["state"]), blob["config"]
