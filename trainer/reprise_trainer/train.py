"""The training loop: ``reprise train``'s schedule (warm-up then cosine decay), AdamW (β 0.9/0.98,
ε 1e-9, decay on matrices but not relative embeddings), global-norm clipping, crops with
transposition and stretch, periodic validation exporting the best model with its card, early
stopping and resumable checkpoints — data-parallel over the processes of a ``torchrun`` launch.

One optimiser step consumes ``processes × accumulation`` micro-batches of about ``batch_tokens``
tokens each: process r takes micro-batches ``cursor + r·A … cursor + r·A + A − 1`` of the epoch's
list, so the data a step sees, and each micro-batch's dropout seed, depend on the global batch
only, not on how it is spread over processes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from . import card, checkpoint, dist, shards
from .config import TrainConfig
from .data import epoch_batches, epoch_rng, make_batch
from .evaluate import masked_nll, nll
from .model import MusicTransformer
from .weights import load_model, save_model


@dataclass
class Options:
    """What the command line asks for."""

    config: TrainConfig
    data: Path
    out: Path
    init: Path | None = None
    resume: bool = False
    accumulation: int = 1
    device: str = "auto"
    max_steps: int | None = None
    rank_weights: Path | None = None
    command: str = ""


def optimizer_for(model: MusicTransformer, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW as Reprise's: weight decay on matrices except the relative embeddings."""
    decay, plain = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and not name.endswith(".er") else plain).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": plain, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-9)


def microbatch_seed(seed: int, epoch: int, index: int) -> int:
    """The dropout seed of one micro-batch: a function of its place in the data only."""
    return (seed * 1_000_003 + epoch * 7_919 + index) % (2**63)


class Trainer:
    """A run in progress on this process."""

    def __init__(self, opts: Options, world: dist.World):
        self.opts, self.world, self.cfg = opts, world, opts.config
        torch.manual_seed(self.cfg.seed)
        kind = self.cfg.model.vocab
        self.train_data = shards.read(opts.data, kind, "train")
        self.valid_data = shards.read(opts.data, kind, "valid")
        if opts.init is not None:
            self.model = load_model(opts.init, dropout=self.cfg.model.dropout)
            if self.model.cfg != self.cfg.model:
                raise ValueError(f"{opts.init}: the model to start from has another architecture than the training config")
        else:
            self.model = MusicTransformer(self.cfg.model)
        self.model.to(world.device)
        self.optimizer = optimizer_for(self.model, self.cfg)
        self.state = checkpoint.RunState()
        if opts.resume:
            self.state, _ = checkpoint.load(opts.out, self.model, self.optimizer, world.device)
        self.ddp = DDP(self.model) if world.size > 1 else self.model
        self.batches: list = []
        self.batches_epoch = -1
        self.stop_requested = False
        self.tokens_per_s = 0.0

    # -- data -------------------------------------------------------------------------------------

    def epoch(self, epoch: int) -> list:
        if self.batches_epoch != epoch:
            c = self.cfg
            rng = epoch_rng(c.seed, epoch)
            self.batches = epoch_batches(self.train_data, c.model.vocab, c.crop_len, c.batch_tokens,
                                         c.transpose, c.stretch, rng)
            self.batches_epoch = epoch
            need = self.world.size * self.opts.accumulation
            if len(self.batches) < need:
                raise ValueError(f"an epoch holds {len(self.batches)} batches, fewer than processes × accumulation ({need}): lower batch_tokens")
        return self.batches

    def next_microbatches(self) -> list[tuple[int, list]]:
        """This process's micro-batches for the next step, as (index in the epoch, crops)."""
        per_step = self.world.size * self.opts.accumulation
        s = self.state
        if s.cursor + per_step > len(self.epoch(s.epoch)):
            s.epoch, s.cursor = s.epoch + 1, 0
        batches = self.epoch(s.epoch)
        first = s.cursor + self.world.rank * self.opts.accumulation
        picked = [(i, batches[i]) for i in range(first, first + self.opts.accumulation)]
        s.cursor += per_step
        return picked

    # -- one step ---------------------------------------------------------------------------------

    def step(self) -> float:
        """One optimiser step over the global batch; returns the mean loss over it."""
        s, cfg, w = self.state, self.cfg, self.world
        lr = cfg.lr_at(s.step)
        for g in self.optimizer.param_groups:
            g["lr"] = lr
        self.ddp.train()
        losses, tokens = [], 0
        micro = self.next_microbatches()
        for a, (index, crops) in enumerate(micro):
            torch.manual_seed(microbatch_seed(cfg.seed, s.epoch, index))
            batch = make_batch(crops, w.device)
            sync = a == len(micro) - 1 or w.size == 1
            ctx = self.ddp.no_sync() if not sync else contextlib.nullcontext()
            with ctx:
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=w.cuda):
                    logits = self.ddp(batch.input)
                total, count = masked_nll(logits, batch.target, batch.mask)
                loss = total / count
                (loss / len(micro)).backward()
            losses.append(loss.item())
            tokens += batch.tokens
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.clip_norm)
        mean_loss, global_tokens, norm = dist.all_sum([sum(losses) / len(losses) / w.size, tokens, float(norm) / w.size], w)
        if not (torch.isfinite(torch.tensor(mean_loss)) and torch.isfinite(torch.tensor(norm))):
            raise ValueError(f"step {s.step + 1}: the loss went non-finite (loss {mean_loss}, gradient norm {norm}); the last checkpoint is kept")
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        s.step += 1
        s.tokens += int(global_tokens)
        return mean_loss


def run(opts: Options) -> int:
    """Trains to ``total_steps`` (or early stopping, ``--max-steps``, SIGINT/SIGTERM); 0 on success."""
    world = dist.start(opts.device)
    try:
        return _run(opts, world)
    finally:
        dist.stop()


def _run(opts: Options, world: dist.World) -> int:
    t = Trainer(opts, world)
    cfg, s = opts.config, t.state
    out = Path(opts.out)
    log = Log(out / "log.csv", resumed=opts.resume) if world.main else None
    if world.main and not opts.resume:
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: setattr(t, "stop_requested", True))
    if opts.init is not None and not opts.resume:
        validate(t, log, 0.0)  # the starting model: the card's "before", and the best so far
    session_start, session_steps = time.time(), 0
    start_elapsed = s.elapsed_s
    clock = None  # throughput: from the end of this session's first step (warm-up excluded)
    while s.step < cfg.total_steps:
        loss = t.step()
        session_steps += 1
        now = time.time()
        s.elapsed_s = start_elapsed + now - session_start
        if clock is None:
            clock = (now, s.tokens)
        elif now > clock[0]:
            t.tokens_per_s = (s.tokens - clock[1]) / (now - clock[0])
        if log:
            log.row(s, cfg.lr_at(s.step - 1), loss, t.tokens_per_s, None)
        if world.main and (s.step % 10 == 0 or s.step == 1):
            print(f"step {s.step}/{cfg.total_steps} epoch {s.epoch} loss {loss:.4f} {t.tokens_per_s:.0f} tokens/s", flush=True)
        if (cfg.valid_every and s.step % cfg.valid_every == 0) or s.step == cfg.total_steps:
            validate(t, log, t.tokens_per_s)
        stop = _should_stop(t, session_steps)
        if s.step % cfg.checkpoint_every == 0 or stop or s.step == cfg.total_steps:
            s.stop = stop or ("finished" if s.step == cfg.total_steps else "running")
            if world.main:
                checkpoint.save(out, t.model, t.optimizer, s, cfg.to_dict())
        if stop:
            break
    return _finish(t, log)


def _should_stop(t: Trainer, session_steps: int) -> str | None:
    flag = dist.all_sum([1.0 if t.stop_requested else 0.0], t.world)[0] > 0
    if flag:
        return "interrupted"
    if t.opts.max_steps is not None and session_steps >= t.opts.max_steps:
        return "paused"
    p = t.cfg.patience
    if p and t.state.since_best >= p:
        return "early-stopped"
    return None


def validate(t: Trainer, log, tokens_per_s: float) -> None:
    """Validation NLL (about ``valid_tokens`` tokens); a new best is exported to ``out/model``."""
    cfg, s, w = t.cfg, t.state, t.world
    limit = cfg.valid_tokens or None
    value, _ = nll(t.model, t.valid_data, cfg.batch_tokens, limit, w.device, autocast=w.cuda)
    if t.opts.init is not None and s.step == 0:
        s.initial_valid_nll = value
    best = s.best_valid_nll is None or value < s.best_valid_nll
    if best:
        s.best_valid_nll, s.best_step, s.since_best = value, s.step, 0
        if w.main:
            save_model(t.model, Path(t.opts.out) / "model")
            card.write(t, final=None)
    else:
        s.since_best += 1
    if log:
        log.row(s, cfg.lr_at(s.step), None, tokens_per_s, value)
    if w.main:
        print(f"step {s.step}: valid NLL {value:.4f}{' (best)' if best else ''}", flush=True)


def _finish(t: Trainer, log) -> int:
    """The exported best model scored on the whole valid split, as ``reprise eval`` scores it."""
    w, out = t.world, Path(t.opts.out)
    if t.opts.rank_weights is not None:
        from safetensors.torch import save_file
        Path(t.opts.rank_weights).mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in t.model.state_dict().items()}
        save_file(tensors, str(Path(t.opts.rank_weights) / f"rank{w.rank}.safetensors"))
    final = None
    if t.state.stop == "finished" or t.state.stop == "early-stopped" or t.state.step >= t.cfg.total_steps:
        exported = load_model(out / "model").to(w.device)
        final = nll(exported, t.valid_data, t.cfg.batch_tokens, None, w.device, autocast=False)
        if w.main:
            card.write(t, final=final)
            print(f"final: valid NLL {final[0]:.4f} nats/token over {final[1]} tokens (the exported model, step {t.state.best_step}, whole split)", flush=True)
    elif w.main:
        print(f"{t.state.stop} at step {t.state.step}; go on with the same command and --resume", flush=True)
    if log:
        log.close()
    return 130 if t.state.stop == "interrupted" else 0


class Log:
    """``log.csv``: step, epoch, lr, loss, tokens/s, validation NLL (Reprise's columns)."""

    HEADER = ["step", "epoch", "lr", "train_loss", "tokens_per_s", "valid_nll"]

    def __init__(self, path: Path, resumed: bool):
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not (resumed and path.is_file())
        self.file = open(path, "w" if fresh else "a", newline="")
        self.writer = csv.writer(self.file)
        if fresh:
            self.writer.writerow(self.HEADER)

    def row(self, s, lr, loss, tps, valid) -> None:
        cell = lambda x, f: "" if x is None else format(x, f)  # noqa: E731
        self.writer.writerow([s.step, s.epoch, f"{lr:.6g}", cell(loss, ".5f"), f"{tps:.0f}", cell(valid, ".5f")])
        self.file.flush()

    def close(self) -> None:
        self.file.close()
