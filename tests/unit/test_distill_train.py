"""The distillation loop: resume reproduces an uninterrupted run, rank > 0 writes nothing, bad input."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from edgekit.data import Dataset
from edgekit.distill.config import DistillConfig
from edgekit.distill.stopping import DEFAULT_PATIENCE, anneal_epochs, last_gain
from edgekit.distill.train import distill
from edgekit.errors import DataError, PipelineError, ShapeMismatchError
from edgekit.progress import NullProgress


@pytest.fixture(scope="module")
def setup(digits_model, demo_assets, eval_arrays):
    from edgekit.api import prune_config
    from edgekit.pruning.run import prune_module

    torch.set_num_threads(1)  # tiny models: more threads on a busy 2-core box are much slower
    with np.load(demo_assets.train) as data:
        train = Dataset(data["x"][:512], data["y"][:512])
    student = prune_module(digits_model, torch.zeros(1, 1, 8, 8), prune_config("cpu-onnxruntime", ratio=0.6),
                           calib_x=train.x[:256]).model
    return digits_model, student, train, Dataset(eval_arrays[0][:200], eval_arrays[1][:200])


class KillAt(NullProgress):
    """Stands in for a killed process: raises once training reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None:
        if completed >= self.step:
            raise KeyboardInterrupt


class Recording(NullProgress):
    def __init__(self) -> None:
        self.descriptions: list[str] = []

    def update(self, key: str, completed: int, total: int | None = None, description: str | None = None) -> None:
        self.descriptions.append(description or "")


def test_by_default_training_stops_when_the_validation_split_stops_improving(setup) -> None:
    """Early stopping is on by default (patience on the held-out split): once it sees the plateau the learning rate
    anneals to 0 (stopping.anneal_epochs), then the run ends well inside its budget, the report knows why, and the
    time the budget could take is shown up front."""
    teacher, student, train, evald = setup
    progress = Recording()
    result = distill(teacher, copy.deepcopy(student), train, evald, DistillConfig(lr=3e-3), seed=0, progress=progress)
    s = result.summary
    assert s["stop_reason"] == "patience" and s["stopped_early"] and s["epochs_run"] < 60 and s["max_epochs"] == 60
    assert s["patience"] == DEFAULT_PATIENCE and s["early_stopping"] == "on"
    plateau, loss = s["plateau_epoch"], [row["val_loss"] for row in result.history]
    # patience watches the distillation loss on the split: exactly `patience` epochs without a gain at the plateau
    assert plateau - last_gain(loss[:plateau + 1], s["min_delta"]) == DEFAULT_PATIENCE
    assert s["anneal_epochs"] == anneal_epochs(plateau, DEFAULT_PATIENCE, 60 - plateau) >= DEFAULT_PATIENCE
    assert s["epochs_run"] == plateau + s["anneal_epochs"]
    lr = [row["lr"] for row in result.history[plateau:]]  # from where the cosine was to 0, falling every epoch
    assert lr[0] > 1e-3 and all(a > b for a, b in zip(lr, lr[1:])) and lr[-1] == 0.0
    assert not s["still_improving"] and s["suggestion"] is None
    accuracy = [row["val_accuracy"] for row in result.history]  # keep-best: the best accuracy, the later on a tie
    assert s["best_metric"] == max(accuracy) and s["after"]["val_accuracy"] == max(accuracy)
    shown = [d for d in progress.descriptions if "per epoch, at most 60 epochs: up to ~" in d]
    assert shown and shown[0] == next(d for d in progress.descriptions if "per epoch" in d)
    assert "stops sooner after 5 epochs without a gain" in shown[0]


def test_resume_inside_the_anneal_gives_the_uninterrupted_weights(setup, tmp_path: Path) -> None:
    """The anneal's start is part of the checkpoint: a run killed while annealing resumes it exactly."""
    teacher, student, train, evald = setup
    cfg = DistillConfig(lr=3e-3, checkpoint_every=3)
    full = distill(teacher, copy.deepcopy(student), train, evald, cfg, seed=0, checkpoint_dir=tmp_path / "a")
    spe, plateau = full.summary["steps_per_epoch"], full.summary["plateau_epoch"]
    kill = (plateau + 1) * spe + 2  # the second epoch of the anneal; the last checkpoint is a few steps before
    with pytest.raises(KeyboardInterrupt):
        distill(teacher, copy.deepcopy(student), train, evald, cfg, seed=0, checkpoint_dir=tmp_path / "b",
                progress=KillAt(kill))
    resumed = distill(teacher, copy.deepcopy(student), train, evald, dataclasses.replace(cfg, resume=True), seed=0,
                      checkpoint_dir=tmp_path / "b")
    assert plateau * spe < resumed.summary["resumed_from_step"] < kill
    for key in ("plateau_epoch", "anneal_epochs", "epochs_run", "steps", "best_epoch", "stop_reason"):
        assert resumed.summary[key] == full.summary[key], key
    a, b = full.student.state_dict(), resumed.student.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_step_budget_that_ends_a_rising_run_says_so(setup) -> None:
    teacher, student, train, evald = setup
    result = distill(teacher, copy.deepcopy(student), train, evald, DistillConfig(steps=14, lr=3e-4), seed=0)
    s = result.summary
    assert s["stop_reason"] == "steps" and s["epochs_run"] == 2 and s["steps"] == 14 and not s["stopped_early"]
    # the epoch the budget ended on competes for keep-best too (it is the best here: still rising)
    assert s["best_epoch"] == 2 and s["best_metric"] == result.history[2]["val_accuracy"]
    assert s["still_improving"] and s["last_gain_epoch"] == 2
    assert s["suggestion"]["option"] == f"--steps {s['suggestion']['epochs'] * 7}"
    assert 4 <= s["suggestion"]["epochs"] <= 8  # within 2-4x the epochs run


def test_the_time_budget_ends_an_invocation_and_resume_continues_it_exactly(setup, tmp_path: Path) -> None:
    teacher, student, train, evald = setup
    cfg = DistillConfig(epochs=3)
    full = distill(teacher, copy.deepcopy(student), train, evald, cfg, seed=2, checkpoint_dir=tmp_path / "a")
    # any epoch takes longer than this budget: the run stops after its first, whatever the host's speed
    timed = distill(teacher, copy.deepcopy(student), train, evald, dataclasses.replace(cfg, max_minutes=1e-9), seed=2,
                    checkpoint_dir=tmp_path / "b").summary
    assert timed["stop_reason"] == "time" and timed["epochs_run"] == 1 and not timed["stopped_early"]
    # the time budget does not change what is computed: resuming without it (or with more) ends like the full run
    resumed = distill(teacher, copy.deepcopy(student), train, evald, dataclasses.replace(cfg, resume=True), seed=2,
                      checkpoint_dir=tmp_path / "b")
    assert resumed.summary["resumed_from_step"] == 7 and resumed.summary["stop_reason"] == "epochs"
    a, b = full.student.state_dict(), resumed.student.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_after_a_kill_gives_the_uninterrupted_weights(setup, tmp_path: Path) -> None:
    teacher, student, train, evald = setup
    cfg = DistillConfig(epochs=3, batch_size=64, checkpoint_every=5, hints=("conv2:conv2",), augment=("shift",))
    full = distill(teacher, copy.deepcopy(student), train, evald, cfg, seed=3, checkpoint_dir=tmp_path / "a")
    with pytest.raises(KeyboardInterrupt):  # killed at step 13: the last checkpoint is step 10 (mid epoch 2)
        distill(teacher, copy.deepcopy(student), train, evald, cfg, seed=3, checkpoint_dir=tmp_path / "b",
                progress=KillAt(13))
    resumed_cfg = DistillConfig(**{**cfg.__dict__, "resume": True})
    resumed = distill(teacher, copy.deepcopy(student), train, evald, resumed_cfg, seed=3, checkpoint_dir=tmp_path / "b")
    assert resumed.summary["resumed_from_step"] == 10 and resumed.summary["steps"] == full.summary["steps"] == 21
    a, b = full.student.state_dict(), resumed.student.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    def no_time(rows: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "wall_s"} for r in rows]

    assert no_time(resumed.history) == no_time(full.history)  # the same losses and eval figures per epoch
    # a checkpoint of other settings is refused, not silently mixed in
    other = DistillConfig(**{**resumed_cfg.__dict__, "lr": 5e-3})
    with pytest.raises(PipelineError, match="other settings"):
        distill(teacher, copy.deepcopy(student), train, evald, other, seed=3, checkpoint_dir=tmp_path / "b")
    # the validation split is part of the match: another held-out share (seed) or given validation data
    for changes in ({"seed": 4}, {"val": Dataset(train.x[:40], train.y[:40])}):
        with pytest.raises(PipelineError, match="validation data"):
            distill(teacher, copy.deepcopy(student), train, evald, resumed_cfg, checkpoint_dir=tmp_path / "b",
                    **{"seed": 3, **changes})


def test_only_rank_0_writes(setup, tmp_path: Path, monkeypatch) -> None:
    from edgekit.artifact import Artifact, Format
    from edgekit.stages.base import RunContext
    from edgekit.stages.distill import DistillStage

    teacher, student, train, evald = setup
    monkeypatch.setenv("RANK", "1")  # WORLD_SIZE stays 1: no process group, only the rank-0 checks differ
    ctx = RunContext(profile=None, backend=None, evald=evald, train=train, teacher=teacher)
    stage = DistillStage(DistillConfig(epochs=1, checkpoint_dir=str(tmp_path / "ckpt")), (1, 1, 8, 8))
    stage_dir = tmp_path / "stage"
    stage_dir.mkdir()
    out = stage.run(Artifact(Format.TORCH, None, {"module": student}), ctx, stage_dir)
    assert out.meta["distillation"]["steps"] == 7  # 512 samples, 51 held out to select on: 461 // 64
    assert list(stage_dir.iterdir()) == [] and not (tmp_path / "ckpt").exists()
    monkeypatch.setenv("RANK", "0")
    stage.run(Artifact(Format.TORCH, None, {"module": student}), ctx, stage_dir)
    written = {p.name for p in stage_dir.iterdir()}
    assert {"state_dict.pt", "architecture.json", "model.pt2", "log.csv", "log.json", "distill.json",
            "checkpoints"} <= written
    assert not (tmp_path / "ckpt").exists()  # the outside checkpoint dir is freed once copied into the stage


def test_pure_kd_without_labels_learns_from_the_teacher(setup) -> None:
    teacher, student, train, evald = setup
    unlabeled = Dataset(train.x)
    result = distill(teacher, copy.deepcopy(student), unlabeled, Dataset(evald.x), DistillConfig(epochs=2), seed=0)
    s = result.summary
    assert not s["labels_used"] and "pure KD" in s["loss"] and s["metric"] == "val_agreement"
    assert "ce" not in result.history[1] and result.history[1]["kd"] > 0
    assert s["after"]["eval_agreement"] >= s["before"]["eval_agreement"]


def test_early_stopping_and_keep_best(setup) -> None:
    teacher, student, train, evald = setup
    cfg = DistillConfig(epochs=6, lr=1.0, grad_clip=0, patience=1, optimizer="sgd")  # a rate that wrecks the model
    result = distill(teacher, copy.deepcopy(student), train, evald, cfg, seed=0)
    s = result.summary
    assert s["stopped_early"] and s["epochs_run"] < 6
    assert s["best_epoch"] == 0 and s["after"]["eval_accuracy"] == s["before"]["eval_accuracy"]
    assert s["selected_on"]["name"] == "held-out 10% of the training data" and s["selected_on"]["samples"] == 51
    assert s["train_samples"] == 461 and s["evaluation"]["samples"] == 200


def test_selection_never_reads_the_evaluation_data(setup) -> None:
    """Eval labels that are all wrong change the logged eval accuracy, not the epoch kept or the weights."""
    teacher, student, train, evald = setup
    wrong = Dataset(evald.x, (evald.y + 1) % 10)
    cfg = DistillConfig(epochs=3, lr=3e-2, patience=2)
    runs = [distill(teacher, copy.deepcopy(student), train, data, cfg, seed=1) for data in (evald, wrong, None)]
    right, wrong_run, blind = runs
    assert right.summary["after"]["eval_accuracy"] > 80 and wrong_run.summary["after"]["eval_accuracy"] < 20
    for other in (wrong_run, blind):
        assert other.summary["best_epoch"] == right.summary["best_epoch"]
        assert other.summary["epochs_run"] == right.summary["epochs_run"]
        assert [r["val_accuracy"] for r in other.history] == [r["val_accuracy"] for r in right.history]
        a, b = right.student.state_dict(), other.student.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert right.summary["metric"] == "val_accuracy" and "eval_accuracy" not in blind.history[-1]


def test_validation_data_selects_and_nothing_to_select_on_is_said(setup) -> None:
    teacher, student, train, evald = setup
    val = Dataset(train.x[:100], train.y[:100], source="val.npz")
    given = distill(teacher, copy.deepcopy(student), train, evald, DistillConfig(epochs=1), val=val, seed=0).summary
    assert given["selected_on"]["name"] == "validation data (--val-data)" and given["selected_on"]["samples"] == 100
    assert given["train_samples"] == 512 and given["best_epoch"] is not None  # nothing held out of train
    with pytest.raises(DataError, match="validation data is the evaluation data"):
        distill(teacher, copy.deepcopy(student), train, evald, DistillConfig(epochs=1), val=evald)
    with pytest.raises(DataError, match=r"patience 2\) watches the validation split.*--val-fraction is 0"):
        distill(teacher, copy.deepcopy(student), train, evald, DistillConfig(epochs=1, patience=2, val_fraction=0))
    # the default patience cannot apply without a split: the whole budget is trained, and that is said
    last = distill(teacher, copy.deepcopy(student), train, evald, DistillConfig(epochs=1, val_fraction=0)).summary
    assert last["best_epoch"] is None and last["selected_on"]["reason"] == "--val-fraction is 0"
    assert last["train_samples"] == 512 and last["patience"] == 0 and last["stop_reason"] == "epochs"
    assert last["early_stopping"] == "no validation split (--val-fraction is 0)" and last["still_improving"] is None


def test_bad_input_is_refused_with_clear_errors(setup, digits_model) -> None:
    teacher, student, train, evald = setup
    cfg = DistillConfig(epochs=1)
    with pytest.raises(DataError, match=r"labels in \[0, 12\].*10 classes"):
        distill(teacher, copy.deepcopy(student), Dataset(train.x, np.where(train.y == 9, 12, train.y)), None, cfg)
    wider = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 12))
    with pytest.raises(PipelineError, match=r"Teacher outputs \[10\].*student \[12\]"):
        distill(teacher, wider, train, None, cfg)
    with pytest.raises(ShapeMismatchError, match="sample shape"):
        distill(teacher, copy.deepcopy(student), Dataset(np.zeros((8, 3, 8, 8), np.float32)), None, cfg)
    with pytest.raises(DataError, match="empty|at least one sample"):
        from edgekit.data import load_data

        load_data((np.zeros((0, 1, 8, 8), np.float32), np.zeros(0, np.int64)), what="training data")
