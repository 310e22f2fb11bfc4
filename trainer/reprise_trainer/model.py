"""The decoder-only Music Transformer of Reprise's ``src/model/music_transformer.rs`` in PyTorch.

Huang et al. 2019, "Music Transformer: Generating Music with Long-Term Structure",
https://arxiv.org/abs/1809.04281. Token embedding with no absolute positions (plus, for the
beat-aware piano model, a learned embedding of each token's metrical state), pre-norm blocks of
relative self-attention computed with the memory-saving skew and a tanh-GELU feed-forward layer,
a final norm and an untied output projection. Parameter names and shapes are Reprise's, so a
``state_dict`` is a Reprise ``model.safetensors``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from . import vocab as V

MASKED = -1e9
NORM_EPS = 1e-5


@dataclass
class Config:
    """``TransformerConfig`` (``config.json``) of a Reprise Music Transformer."""

    vocab: str
    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    max_len: int
    dropout: float = 0.1
    beat_embedding: bool = False

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        known = {f.name for f in fields(cls)}
        extra = set(d) - known
        if extra:
            raise ValueError(f"model config: unknown fields {sorted(extra)} (not a Music Transformer?)")
        cfg = cls(**d)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.beat_embedding:
            del d["beat_embedding"]  # Reprise omits it when false
        return d

    def validate(self) -> None:
        if self.vocab not in V.SIZES:
            raise ValueError(f"model config: unknown vocabulary {self.vocab!r}")
        if self.vocab_size != V.SIZES[self.vocab]:
            raise ValueError(
                f"model config: vocab_size {self.vocab_size} does not match the {self.vocab} vocabulary ({V.SIZES[self.vocab]})"
            )
        if self.d_model <= 0 or self.n_heads <= 0 or self.d_model % self.n_heads:
            raise ValueError("model config: d_model must be a positive multiple of n_heads")
        if self.n_layers <= 0 or self.d_ff <= 0 or self.max_len < 2:
            raise ValueError("model config: n_layers, d_ff must be > 0 and max_len >= 2")
        if self.beat_embedding and self.vocab != "remi":
            raise ValueError("model config: beat_embedding needs the remi vocabulary")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("model config: dropout must be in [0, 1)")


def relative_embeddings(er: torch.Tensor, length: int) -> torch.Tensor:
    """``er`` ``[H, M, Dh]`` arranged for ``length`` keys: row c holds distance ``length-1-c``
    (zero rows for distances >= M, the tensor2tensor rule)."""
    h, m, dh = er.shape
    if length <= m:
        return er[:, m - length :, :]
    zeros = er.new_zeros(h, length - m, dh)
    return torch.cat([zeros, er], dim=1)


def skew(qe: torch.Tensor) -> torch.Tensor:
    """From ``Q·Erᵀ`` ``[B, H, L, L]`` (column c ↔ distance L-1-c) to ``Srel[i][j] = q_i·E(i-j)``
    for j <= i: pad one zero column on the left, reshape to (L+1, L), drop the first row."""
    b, h, l, _ = qe.shape
    return F.pad(qe, (1, 0)).reshape(b, h, l + 1, l)[:, :, 1:, :]


def causal_mask(length: int, device, dtype=torch.float32) -> torch.Tensor:
    """Additive ``[L, L]`` mask: 0 on and below the diagonal, ``MASKED`` above."""
    upper = torch.ones(length, length, dtype=torch.bool, device=device).triu(1)
    return torch.zeros(length, length, dtype=dtype, device=device).masked_fill(upper, MASKED)


def relative_attention(q, k, v, er, key_mask=None):
    """Relative global attention with the skew: ``q, k, v`` ``[B, H, L, Dh]``, ``er`` ``[H, M, Dh]``,
    ``key_mask`` ``[B, L]`` (1 for real tokens). Returns ``[B, H, L, Dh]``."""
    b, _, l, dh = q.shape
    er_l = relative_embeddings(er, l)
    srel = skew(torch.matmul(q, er_l.transpose(-1, -2).unsqueeze(0)))
    scores = torch.matmul(q, k.transpose(-1, -2)) + srel
    mask = causal_mask(l, q.device, scores.dtype).view(1, 1, l, l)
    if key_mask is not None:
        pad = (1.0 - key_mask.to(scores.dtype)) * MASKED
        mask = mask + pad.view(b, 1, 1, l)
    scores = (scores + mask) * dh**-0.5
    return torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v


def naive_relative_attention(q, k, v, er, key_mask=None):
    """Shaw et al.'s form, materialising the ``L×L×Dh`` relative tensor: the slow reference."""
    b, h, l, dh = q.shape
    m = er.shape[1]
    rel = q.new_zeros(h, l, l, dh)
    for i in range(l):
        for j in range(i + 1):
            if i - j < m:
                rel[:, i, j] = er[:, m - 1 - (i - j)]
    scores = torch.einsum("bhid,bhjd->bhij", q, k) + torch.einsum("bhid,hijd->bhij", q, rel)
    scores = scores / math.sqrt(dh)
    blocked = torch.ones(l, l, dtype=torch.bool).triu(1).view(1, 1, l, l)
    scores = scores.masked_fill(blocked, float("-inf"))
    if key_mask is not None:
        scores = scores + (1.0 - key_mask).view(b, 1, 1, l) * MASKED
    return torch.softmax(scores, dim=-1) @ v


class RelativeSelfAttention(nn.Module):
    """Multi-head relative self-attention: ``qkv`` ``[3D, D]``, ``out`` ``[D, D]``, ``er`` ``[H, M, Dh]``."""

    def __init__(self, d_model: int, n_heads: int, max_len: int):
        super().__init__()
        self.n_heads = n_heads
        dh = d_model // n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.er = nn.Parameter(torch.randn(n_heads, max_len, dh) * dh**-0.5)

    def forward(self, x, key_mask=None):
        b, l, d = x.shape
        qkv = self.qkv(x).view(b, l, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        o = relative_attention(qkv[0], qkv[1], qkv[2], self.er, key_mask)
        return self.out(o.transpose(1, 2).reshape(b, l, d))


class Block(nn.Module):
    """Pre-norm block: relative self-attention, then the feed-forward layer, each residual."""

    def __init__(self, cfg: Config):
        super().__init__()
        d = cfg.d_model
        self.ln1 = nn.LayerNorm(d, eps=NORM_EPS)
        self.attn = RelativeSelfAttention(d, cfg.n_heads, cfg.max_len)
        self.ln2 = nn.LayerNorm(d, eps=NORM_EPS)
        self.ff1 = nn.Linear(d, cfg.d_ff)
        self.ff2 = nn.Linear(cfg.d_ff, d)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, key_mask=None):
        x = x + self.drop(self.attn(self.ln1(x), key_mask))
        h = self.drop(F.gelu(self.ff1(self.ln2(x)), approximate="tanh"))
        return x + self.drop(self.ff2(h))


class MusicTransformer(nn.Module):
    """The decoder-only Music Transformer (``MusicTransformer::forward`` in Reprise)."""

    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        if cfg.beat_embedding:
            self.beat_embed = nn.Embedding(V.BEAT_STATES, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model, eps=NORM_EPS)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def forward(self, ids: torch.Tensor, key_mask=None, beats: torch.Tensor | None = None):
        """Logits ``[B, L, V]`` for ids ``[B, L]``. ``beats`` (beat-aware models) holds each token's
        metrical state; computed from ``ids`` (each row a stream's start) when not given."""
        x = self.embed(ids)
        if self.cfg.beat_embedding:
            if beats is None:
                beats = beat_tensor(ids)
            x = x + self.beat_embed(beats)
        for block in self.blocks:
            x = block(x, key_mask)
        return self.head(self.norm(x))


def beat_tensor(ids: torch.Tensor) -> torch.Tensor:
    """Metrical states ``[B, L]`` of ids ``[B, L]``, each row from a stream's start."""
    rows = [V.beat_states(row) for row in ids.tolist()]
    return torch.tensor(rows, dtype=torch.long, device=ids.device).view(ids.shape)
