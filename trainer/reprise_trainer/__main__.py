"""``python -m reprise_trainer`` (or ``torchrun … -m reprise_trainer``): ``train``, ``eval``, ``parity``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from . import parity
from .config import TrainConfig


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reprise_trainer", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a Music Transformer on token shards (torchrun for many processes)")
    t.add_argument("--config", type=Path, help="a reprise training config (JSON); with --resume, the run's own")
    t.add_argument("--data", type=Path, required=True, help="token shards written by `reprise tokenize`")
    t.add_argument("--out", type=Path, required=True, help="run folder: log.csv, checkpoint.pt, model/")
    t.add_argument("--init", type=Path, help="a Reprise model folder to start from (same architecture)")
    t.add_argument("--resume", action="store_true", help="go on from the run folder's checkpoint")
    t.add_argument("--accumulation", type=int, default=1, help="micro-batches per process per step")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    t.add_argument("--max-steps", type=int, help="stop (resumably) after this many steps in this session")
    t.add_argument("--rank-weights", type=Path, help=argparse.SUPPRESS)  # tests: each rank's final weights
    e = sub.add_parser("eval", help="validation NLL of a Reprise model folder on token shards")
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--split", default="valid")
    e.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parity.add_commands(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    try:
        if args.cmd == "train":
            return _train(args, argv)
        if args.cmd == "eval":
            return _eval(args)
        return parity.run(args)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _train(args, argv) -> int:
    from .train import Options, run

    if args.accumulation < 1:
        raise ValueError("--accumulation must be at least 1")
    config = args.config
    if config is None:
        if not args.resume:
            raise ValueError("--config is needed (or --resume to go on with a run's own)")
        config = args.out / "train_config.json"
    opts = Options(
        config=TrainConfig.load(config), data=args.data, out=args.out, init=args.init,
        resume=args.resume, accumulation=args.accumulation, device=args.device,
        max_steps=args.max_steps, rank_weights=args.rank_weights,
        command="python -m reprise_trainer " + shlex.join(argv),
    )
    if args.out.exists() and not args.resume and (args.out / "checkpoint.pt").exists():
        raise ValueError(f"{args.out}: holds a run already; --resume to go on, or another --out")
    return run(opts)


def _eval(args) -> int:
    import torch

    from . import shards
    from .evaluate import nll
    from .weights import load_model

    device = torch.device("cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu")
    model = load_model(args.model).to(device)
    data = shards.read(args.data, model.cfg.vocab, args.split)
    value, tokens = nll(model, data, 8192, None, device)
    print(f"{args.model}: {args.split} NLL {value:.4f} nats/token over {tokens} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
