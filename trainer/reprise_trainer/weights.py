"""Model folders as Reprise reads and writes them: ``config.json`` and ``model.safetensors`` (f16,
Reprise's tensor names), with a ``MODEL_CARD.md`` beside them."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .model import Config, MusicTransformer

CONFIG = "config.json"
WEIGHTS = "model.safetensors"


def atomic_write(path: Path, write) -> None:
    """Writes ``path`` all-or-nothing: ``write(tmp_path)``, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_config(folder: Path) -> Config:
    """The Music Transformer config of a model folder."""
    path = Path(folder) / CONFIG
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: cannot read a model config: {e}") from e
    if "architecture" in d:
        raise ValueError(f"{path}: a {d['architecture']} model; the trainer handles Music Transformers")
    return Config.from_dict(d)


def load_model(folder: Path, dropout: float | None = None) -> MusicTransformer:
    """A Reprise model folder as a PyTorch module in f32 (every tensor must be present and fit)."""
    cfg = read_config(folder)
    if dropout is not None:
        cfg.dropout = dropout
    model = MusicTransformer(cfg)
    tensors = load_file(str(Path(folder) / WEIGHTS))
    ours = model.state_dict()
    missing = sorted(set(ours) - set(tensors))
    extra = sorted(set(tensors) - set(ours))
    if missing or extra:
        raise ValueError(f"{folder}: weights do not fit the config (missing {missing[:3]}, extra {extra[:3]})")
    for name, t in tensors.items():
        if tuple(t.shape) != tuple(ours[name].shape):
            raise ValueError(f"{folder}: tensor {name} has shape {tuple(t.shape)}, expected {tuple(ours[name].shape)}")
    model.load_state_dict({k: t.float() for k, t in tensors.items()})
    return model


def save_model(model: MusicTransformer, folder: Path, dtype=torch.float16) -> None:
    """Writes ``model.safetensors`` (``dtype``, f16 as Reprise ships) and ``config.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in model.state_dict().items()}
    atomic_write(folder / WEIGHTS, lambda tmp: save_file(tensors, tmp))
    text = json.dumps(model.cfg.to_dict(), indent=2)
    atomic_write(folder / CONFIG, lambda tmp: Path(tmp).write_text(text))
