"""Token shards written by ``reprise tokenize`` (``src/train/shards.rs``), read with every check
Reprise makes: format and version, vocabulary, its version and size, each shard's size and FNV-1a
hash, piece lengths and ids."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from safetensors.numpy import load as load_bytes

from . import vocab as V

MANIFEST = "manifest.json"
FORMAT = "reprise-token-shards"
VERSION = 1


class ShardError(ValueError):
    """A shard folder that cannot be read: the message names the file and says why."""


@dataclass
class Pieces:
    """One split: token sequences with their crop starts (``train::sequences::Sequences``)."""

    seqs: list[np.ndarray] = field(default_factory=list)
    starts: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0

    def tokens(self) -> int:
        return int(sum(len(s) for s in self.seqs))


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bits (``midi::folder::fnv1a``)."""
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def manifest(folder: Path, kind: str) -> dict:
    """The manifest, checked against a model reading the ``kind`` vocabulary."""
    path = Path(folder) / MANIFEST
    try:
        m = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: not a shard manifest: {e}") from e
    if m.get("format") != FORMAT or m.get("version") != VERSION:
        raise ShardError(f"{path}: is {m.get('format')} version {m.get('version')}; the trainer reads {FORMAT} version {VERSION}")
    if m.get("vocab") != kind:
        raise ShardError(f"{path}: holds {m.get('vocab')} tokens; the model reads the {kind} vocabulary")
    if m.get("vocab_version") != V.VERSIONS[kind] or m.get("vocab_size") != V.SIZES[kind]:
        raise ShardError(f"{path}: was written by another {kind} vocabulary version: tokenize again")
    return m


def read(folder: Path, kind: str, split: str, verify_hash: bool = True) -> Pieces:
    """One split of a shard folder, every shard checked."""
    folder = Path(folder)
    m = manifest(folder, kind)
    info = m["splits"].get(split)
    if info is None:
        raise ShardError(f"{folder}: has no split '{split}'")
    out = Pieces(seconds=float(info["seconds"]))
    for shard in info["shards"]:
        _read_shard(folder / shard["file"], shard, V.SIZES[kind], out, verify_hash)
    if len(out.seqs) != info["pieces"]:
        raise ShardError(f"{folder}: the manifest counts {info['pieces']} pieces in {split}, the shards hold {len(out.seqs)}")
    return out


def _read_shard(path: Path, shard: dict, vocab_size: int, out: Pieces, verify_hash: bool) -> None:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ShardError(f"{path}: cannot read: {e}") from e
    if len(data) != shard["bytes"]:
        raise ShardError(f"{path}: is truncated or changed: {len(data)} bytes, the manifest says {shard['bytes']}")
    if verify_hash and f"{fnv1a64(data):016x}" != shard["fnv1a64"]:
        raise ShardError(f"{path}: is changed or corrupt: its hash differs from the manifest's")
    try:
        t = load_bytes(data)
        tokens, lengths, starts, counts = (t[n] for n in ("tokens", "lengths", "starts", "start_counts"))
    except Exception as e:  # safetensors raises several types
        raise ShardError(f"{path}: not a token shard: {e}") from e
    if any(a.dtype != np.uint32 for a in (tokens, lengths, starts, counts)):
        raise ShardError(f"{path}: its tensors are not u32")
    if len(counts) != len(lengths) or int(lengths.sum()) != len(tokens) or int(counts.sum()) != len(starts):
        raise ShardError(f"{path}: its piece lengths do not add up to its tokens")
    if len(tokens) and int(tokens.max()) >= vocab_size:
        raise ShardError(f"{path}: holds token id {int(tokens.max())}, outside the vocabulary's {vocab_size}")
    t_off = np.concatenate([[0], np.cumsum(lengths.astype(np.int64))])
    s_off = np.concatenate([[0], np.cumsum(counts.astype(np.int64))])
    for i in range(len(lengths)):
        piece_starts = starts[s_off[i] : s_off[i + 1]].astype(np.int64)
        if len(piece_starts) and int(piece_starts.max()) >= max(int(lengths[i]), 1):
            raise ShardError(f"{path}: a crop start lies outside its piece")
        out.seqs.append(tokens[t_off[i] : t_off[i + 1]].astype(np.int64))
        out.starts.append(piece_starts)
