"""Logit parity with Reprise, in both directions.

``parity make`` writes a randomly initialised model folder and a probe (token ids and the logits
PyTorch computes for them) for Reprise to check; ``parity check`` loads a Reprise model folder
(say a shipped model) and compares PyTorch's logits with a probe Reprise wrote. Probes are
safetensors files with ``ids`` (u32 ``[B, L]``) and ``logits`` (f32 ``[B, L, V]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from .model import Config, MusicTransformer
from .weights import load_model, save_model


def add_commands(sub) -> None:
    m = sub.add_parser("parity-make", help="a random model folder and a probe of its PyTorch logits")
    m.add_argument("--model-config", required=True, help="the model's config.json fields as JSON")
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--probe", type=Path, required=True)
    m.add_argument("--length", type=int, default=64)
    m.add_argument("--seed", type=int, default=1)
    c = sub.add_parser("parity-check", help="compare PyTorch's logits for a probe Reprise wrote")
    c.add_argument("--model", type=Path, required=True)
    c.add_argument("--probe", type=Path, required=True)
    c.add_argument("--tolerance", type=float, default=1e-4)


def random_model(cfg: Config, seed: int) -> MusicTransformer:
    """A model whose every tensor, norms and biases included, is random (so each one is exercised)."""
    torch.manual_seed(seed)
    model = MusicTransformer(cfg)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("ln1.weight", "ln2.weight", "norm.weight")):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif p.dim() == 1:
                p.copy_(0.1 * torch.randn_like(p))
    return model


def probe_ids(cfg: Config, length: int, seed: int) -> torch.Tensor:
    """Two rows of random valid ids, the first starting with BOS."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, cfg.vocab_size, (2, length), generator=g)
    ids[0, 0] = 1
    return ids


@torch.no_grad()
def logits_of(model: MusicTransformer, ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(ids.long()).float()


def run(args) -> int:
    if args.cmd == "parity-make":
        cfg = Config.from_dict(json.loads(args.model_config))
        save_model(random_model(cfg, args.seed), args.out)
        model = load_model(args.out)  # the f16 weights Reprise will read, as f32
        ids = probe_ids(cfg, args.length, args.seed)
        save_file({"ids": ids.to(torch.int32).contiguous(), "logits": logits_of(model, ids).contiguous()}, str(args.probe))
        print(f"wrote {args.out} and {args.probe}")
        return 0
    model = load_model(args.model)
    probe = load_file(str(args.probe))
    ours = logits_of(model, probe["ids"].long())
    diff = (ours - probe["logits"].float()).abs().max().item()
    ok = diff <= args.tolerance
    print(f"{args.model}: max abs logit difference {diff:.3g} ({'within' if ok else 'beyond'} {args.tolerance})")
    return 0 if ok else 1
