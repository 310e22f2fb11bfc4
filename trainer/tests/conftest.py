"""Fixtures: token shards written the way ``reprise tokenize`` writes them, from made-up pieces."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reprise_trainer import shards  # noqa: E402
from reprise_trainer import vocab as V  # noqa: E402


def write_shards(folder: Path, kind: str, splits: dict[str, list[list[int]]]) -> Path:
    """A shard folder holding ``splits`` (each piece a token list starting with BOS; crop starts at
    every fourth token), one shard per split."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = {"format": shards.FORMAT, "version": shards.VERSION, "vocab": kind,
                "vocab_version": V.VERSIONS[kind], "vocab_size": V.SIZES[kind], "source": "made up",
                "valid_share": 0.1, "splits": {}, "files": []}
    for name, pieces in splits.items():
        starts = [list(range(0, len(p) - 1, 4)) for p in pieces]
        arrays = {
            "tokens": np.array([t for p in pieces for t in p], dtype=np.uint32),
            "lengths": np.array([len(p) for p in pieces], dtype=np.uint32),
            "starts": np.array([s for ss in starts for s in ss], dtype=np.uint32),
            "start_counts": np.array([len(ss) for ss in starts], dtype=np.uint32),
        }
        data = save(arrays)
        file = f"{name}-000.safetensors"
        (folder / file).write_bytes(data)
        manifest["splits"][name] = {"pieces": len(pieces), "tokens": int(arrays["tokens"].size), "seconds": 1.0,
                                    "shards": [{"file": file, "bytes": len(data),
                                                "fnv1a64": f"{shards.fnv1a64(data):016x}", "pieces": len(pieces)}]}
    (folder / shards.MANIFEST).write_text(json.dumps(manifest))
    return folder


def grid_pieces(count: int, length: int, seed: int) -> list[list[int]]:
    """Chorale-like grid pieces: four voices moving by small steps."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        voices = rng.integers(55, 72, size=4)
        piece = [V.BOS]
        while len(piece) < length:
            voices = np.clip(voices + rng.integers(-2, 3, size=4), 40, 84)
            piece += [V.GRID_PITCH + int(v) for v in voices]
        out.append(piece[:length])
    return out


@pytest.fixture
def grid_shards(tmp_path) -> Path:
    return write_shards(tmp_path / "shards", "grid",
                        {"train": grid_pieces(24, 70, 1), "valid": grid_pieces(4, 70, 2)})


@pytest.fixture(autouse=True)
def one_thread():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
