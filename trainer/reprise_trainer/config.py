"""Training settings: the JSON files ``reprise train --config`` reads (``train::TrainConfig``), with
the same learning-rate schedule."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from .model import Config


@dataclass
class TrainConfig:
    """A run's settings; the fields and their meaning are Reprise's."""

    model: Config
    crop_len: int
    batch_tokens: int
    lr: float
    warmup_steps: int
    total_steps: int
    min_lr_ratio: float
    weight_decay: float
    clip_norm: float
    transpose: int
    checkpoint_every: int
    seed: int
    stretch: float = 0.0
    valid_every: int = 0
    valid_tokens: int = 0
    patience: int = 0
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> "TrainConfig":
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, ValueError) as e:
            raise ValueError(f"{path}: cannot read a training config: {e}") from e
        return cls.from_dict(d, str(path))

    @classmethod
    def from_dict(cls, d: dict, where: str = "training config") -> "TrainConfig":
        d = dict(d)
        try:
            model = Config.from_dict(d.pop("model"))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from e
        known = {f for f in cls.__dataclass_fields__ if f not in ("model", "extra")}
        ignored = {k: d.pop(k) for k in list(d) if k not in known}
        try:
            cfg = cls(model=model, extra=ignored, **d)
        except TypeError as e:
            raise ValueError(f"{where}: {e}") from e
        if ignored.get("infill"):
            raise ValueError(f"{where}: fill-in-the-middle crops (infill) are trained by `reprise train` only")
        cfg.validate(where)
        return cfg

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k not in ("model", "extra")}
        return {"model": self.model.to_dict(), **d}

    def validate(self, where: str) -> None:
        if not 2 <= self.crop_len <= self.model.max_len:
            raise ValueError(f"{where}: crop_len must be in 2 ..= model.max_len")
        if self.batch_tokens < self.crop_len + 1 or self.total_steps <= 0 or self.checkpoint_every <= 0:
            raise ValueError(f"{where}: batch_tokens must hold one crop; total_steps and checkpoint_every must be > 0")
        if not (0 < self.lr < 1 and 0 <= self.min_lr_ratio <= 1 and self.clip_norm > 0):
            raise ValueError(f"{where}: lr must be in (0, 1), min_lr_ratio in [0, 1], clip_norm > 0")

    def lr_at(self, step: int) -> float:
        """Learning rate at ``step`` (0-based): linear warm-up, then cosine decay to ``lr·min_lr_ratio``."""
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        span = max(self.total_steps - self.warmup_steps, 1)
        t = min((step - self.warmup_steps) / span, 1.0)
        floor = self.lr * self.min_lr_ratio
        return floor + (self.lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
