"""The ``MODEL_CARD.md`` written beside an exported model: data, command, processes and device,
steps, wall time, throughput and validation NLL."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from . import shards
from .weights import atomic_write


def _device(world) -> str:
    if world.cuda:
        return f"{world.size} × {torch.cuda.get_device_name(world.device)} (CUDA, bf16 autocast)"
    return f"{world.size} CPU process(es) on {platform.machine()} (gloo), f32"


def _data(folder: Path) -> str:
    try:
        m = json.loads((Path(folder) / shards.MANIFEST).read_text())
    except (OSError, ValueError):
        return f"token shards in `{folder}`"
    rows = [
        f"- {name}: {s['pieces']} pieces, {s['tokens']} tokens, {s['seconds'] / 3600:.2f} h"
        for name, s in sorted(m["splits"].items())
    ]
    return f"Token shards `{folder}` ({m['vocab']} vocabulary v{m['vocab_version']}) from `{m['source']}`:\n" + "\n".join(rows)


def write(t, final: tuple[float, int] | None) -> None:
    """Writes ``out/model/MODEL_CARD.md`` for the trainer ``t`` (``final``: the whole-split NLL)."""
    s, cfg, opts = t.state, t.cfg, t.opts
    m = cfg.model
    nll_line = f"{s.best_valid_nll:.4f} nats/token at step {s.best_step}" if s.best_valid_nll is not None else "not yet measured"
    lines = [
        f"# {Path(opts.out).name}: Music Transformer trained with PyTorch",
        "",
        f"Relative-attention Music Transformer (Huang et al. 2019), {m.vocab} vocabulary"
        f"{' with the beat embedding' if m.beat_embedding else ''}: {m.n_layers} layers, d_model {m.d_model}, "
        f"{m.n_heads} heads, d_ff {m.d_ff}, context {m.max_len}. Trained by `reprise_trainer` "
        "(trainer/ in the Reprise repository); Reprise loads it unchanged.",
        "",
        "## Data",
        _data(opts.data),
        "",
        "## Training",
        f"- Command: `{opts.command}`",
        f"- Hardware: {_device(t.world)}; accumulation {opts.accumulation}",
        f"- Steps: {s.step} of {cfg.total_steps} ({s.stop}); tokens seen: {s.tokens}",
        f"- Wall time: {s.elapsed_s / 60:.1f} min; throughput at the end: {t.tokens_per_s:.0f} tokens/s (all processes)",
        f"- Schedule: lr {cfg.lr} (warm-up {cfg.warmup_steps}, cosine to ×{cfg.min_lr_ratio}), "
        f"weight decay {cfg.weight_decay}, clip {cfg.clip_norm}, crops of {cfg.crop_len}, "
        f"{cfg.batch_tokens} tokens per micro-batch, transpose ±{cfg.transpose}, stretch ±{cfg.stretch}, seed {cfg.seed}",
    ]
    if opts.init is not None:
        lines.append(f"- Started from: `{opts.init}` (valid NLL before: {s.initial_valid_nll:.4f})")
    lines += ["", "## Metrics", f"- Best validation NLL during training: {nll_line} "
              f"({'about ' + str(cfg.valid_tokens) + ' tokens' if cfg.valid_tokens else 'whole split'})"]
    if final is not None:
        lines.append(f"- This exported model on the whole valid split: {final[0]:.4f} nats/token over {final[1]} tokens "
                     f"— `reprise eval --model {Path(opts.out) / 'model'} --data {opts.data}` gives the same")
    text = "\n".join(lines) + "\n"
    atomic_write(Path(opts.out) / "model" / "MODEL_CARD.md", lambda tmp: Path(tmp).write_text(text))
