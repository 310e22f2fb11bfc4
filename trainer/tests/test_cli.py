"""The trainer's command line: bad input is one line and exit 2; --init starts from a model folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_ddp import ROOT, env, tiny_config

from reprise_trainer import parity
from reprise_trainer.model import Config
from reprise_trainer.weights import load_model, save_model


def trainer(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reprise_trainer", *args], env=env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def assert_bad(res: subprocess.CompletedProcess, *words: str) -> None:
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_a_truncated_shard_is_refused(grid_shards, tmp_path):
    shard = grid_shards / "train-000.safetensors"
    shard.write_bytes(shard.read_bytes()[:-10])
    res = trainer("train", "--config", str(tiny_config(tmp_path, 2)), "--data", str(grid_shards), "--out", str(tmp_path / "r"))
    assert_bad(res, "train-000.safetensors", "truncated")


def test_a_changed_shard_is_refused(grid_shards, tmp_path):
    shard = grid_shards / "valid-000.safetensors"
    data = bytearray(shard.read_bytes())
    data[-1] ^= 1
    shard.write_bytes(bytes(data))
    res = trainer("eval", "--model", str(_model(tmp_path)), "--data", str(grid_shards))
    assert_bad(res, "valid-000.safetensors", "hash")


def test_shards_of_another_vocabulary_are_refused(grid_shards, tmp_path):
    cfg = json.loads(tiny_config(tmp_path, 2).read_text())
    cfg["model"].update(vocab="performance", vocab_size=391)
    path = tmp_path / "perf.json"
    path.write_text(json.dumps(cfg))
    res = trainer("train", "--config", str(path), "--data", str(grid_shards), "--out", str(tmp_path / "r"))
    assert_bad(res, "manifest.json", "grid tokens", "performance")


def test_resume_without_a_checkpoint_and_a_bad_config_are_one_line(grid_shards, tmp_path):
    assert_bad(trainer("train", "--data", str(grid_shards), "--out", str(tmp_path / "none"), "--resume"), "train_config.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"vocab": "grid"}}')
    assert_bad(trainer("train", "--config", str(bad), "--data", str(grid_shards), "--out", str(tmp_path / "r")), "bad.json")


def _model(tmp_path: Path) -> Path:
    cfg = json.loads(tiny_config(tmp_path, 2).read_text())["model"]
    folder = tmp_path / "start"
    save_model(parity.random_model(Config.from_dict(cfg), 3), folder)
    return folder


def test_init_starts_from_a_model_folder_and_reports_before_and_after(grid_shards, tmp_path):
    start = _model(tmp_path)
    run = tmp_path / "ft"
    res = trainer("train", "--config", str(tiny_config(tmp_path, 10)), "--data", str(grid_shards), "--out", str(run), "--init", str(start))
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith("step 0: valid NLL"), lines[0]  # the starting model, measured first
    card = (run / "model" / "MODEL_CARD.md").read_text()
    assert "Started from" in card and "valid NLL before" in card
    before = float(lines[0].split()[4])
    assert load_model(run / "model") is not None
    after = float(res.stdout.split("final: valid NLL")[1].split()[0])
    assert after < before
