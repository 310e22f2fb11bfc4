"""Data parallelism on this machine: ``torchrun --nproc_per_node 2`` with gloo on CPU."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[1]


def tiny_config(tmp: Path, steps: int, checkpoint_every: int = 5, dropout: float = 0.1) -> Path:
    cfg = {
        "model": {"vocab": "grid", "vocab_size": 132, "d_model": 32, "n_layers": 2, "n_heads": 4,
                  "d_ff": 64, "max_len": 32, "dropout": dropout},
        "crop_len": 32, "batch_tokens": 100, "lr": 0.003, "warmup_steps": 3, "total_steps": steps,
        "min_lr_ratio": 0.1, "weight_decay": 0.01, "clip_norm": 1.0, "transpose": 3,
        "checkpoint_every": checkpoint_every, "valid_every": 10, "seed": 5,
    }
    path = tmp / f"tiny-{steps}.json"
    path.write_text(json.dumps(cfg))
    return path


def env() -> dict:
    e = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return e


def launch(args: list[str], procs: int, **kw) -> subprocess.Popen:
    if procs == 1:
        cmd = [sys.executable, "-m", "reprise_trainer", "train", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(procs),
               "-m", "reprise_trainer", "train", *args]
    return subprocess.Popen(cmd, env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True, **kw)


def train(args: list[str], procs: int) -> str:
    p = launch(args, procs)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0, out
    return out


def weights(folder: Path, rank: int = 0) -> dict:
    return load_file(str(folder / f"rank{rank}.safetensors"))


def max_diff(a: dict, b: dict) -> float:
    return max((a[k] - b[k]).abs().max().item() for k in a)


def test_two_processes_agree_with_each_other_and_with_one(grid_shards, tmp_path):
    cfg = tiny_config(tmp_path, steps=20)
    common = ["--config", str(cfg), "--data", str(grid_shards), "--device", "cpu"]
    train([*common, "--out", str(tmp_path / "one"), "--accumulation", "2", "--rank-weights", str(tmp_path / "w1")], 1)
    out = train([*common, "--out", str(tmp_path / "two"), "--rank-weights", str(tmp_path / "w2")], 2)
    assert "final: valid NLL" in out
    r0, r1 = weights(tmp_path / "w2", 0), weights(tmp_path / "w2", 1)
    assert all(torch.equal(r0[k], r1[k]) for k in r0), "the two ranks ended with different weights"
    single = weights(tmp_path / "w1")
    assert max_diff(single, r0) < 1e-6, max_diff(single, r0)  # exact here; a margin for other BLAS
    assert not torch.equal(single["head.weight"], torch.zeros_like(single["head.weight"]))
    # The same global batch gives the same losses, step by step.
    log = lambda run: [r.split(",")[3] for r in (tmp_path / run / "log.csv").read_text().splitlines()[1:] if r.split(",")[3]]  # noqa: E731
    a, b = log("one"), log("two")
    assert len(a) == len(b) == 20
    assert max(abs(float(x) - float(y)) for x, y in zip(a, b)) < 1e-3


def test_killed_run_resumes_on_another_process_count(grid_shards, tmp_path):
    steps = 200
    cfg = tiny_config(tmp_path, steps=steps, checkpoint_every=5)
    common = ["--config", str(cfg), "--data", str(grid_shards), "--device", "cpu"]
    train([*common, "--out", str(tmp_path / "whole"), "--accumulation", "2", "--rank-weights", str(tmp_path / "w")], 1)
    run = tmp_path / "killed"
    p = launch([*common, "--out", str(run)], 2)
    deadline = time.time() + 300
    while not (run / "checkpoint.pt").exists():
        assert p.poll() is None, p.stdout.read()
        assert time.time() < deadline
        time.sleep(0.01)
    os.killpg(p.pid, signal.SIGKILL)  # the launcher and both workers, without warning
    p.wait()
    state = torch.load(run / "checkpoint.pt", weights_only=True)["state"]
    assert 0 < state["step"] < steps, f"the kill came too late to test anything: {state['step']}"
    out = train(["--data", str(grid_shards), "--device", "cpu", "--out", str(run), "--resume",
                 "--accumulation", "2", "--rank-weights", str(tmp_path / "r")], 1)
    assert "final: valid NLL" in out
    assert max_diff(weights(tmp_path / "w"), weights(tmp_path / "r")) < 1e-6
