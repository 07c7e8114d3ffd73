"""The distillation loop: resumable, deterministic for a seed, data-parallel under torchrun.

Determinism and resume: the sample order of epoch e is ``randperm`` seeded by (seed, e), the
augmentation of step k is seeded by (seed, k), and the torch RNG states go into every
checkpoint, so a run resumed from step k replays exactly the steps an uninterrupted run takes
(same final weights on the same machine). Under DDP every rank draws the same global batch and
takes its slice ``batch[rank::world]``: the optimizer sees the same samples per step as a
single process, only the float reduction order (and per-shard BatchNorm batch statistics) differ.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgekit.data import Dataset
from edgekit.distill import distributed
from edgekit.distill.config import DistillConfig, Optimizer
from edgekit.distill.loss import FeatureTaps, StudentWithAdapters, build_adapters, distill_loss, hint_loss
from edgekit.distill.split import Selection, check_not_eval, selection_split
from edgekit.distill.stopping import DEFAULT_PATIENCE, STOP_REASONS, anneal_epochs, improves, verdict
from edgekit.errors import DataError, PipelineError, ShapeMismatchError
from edgekit.outputs import primary
from edgekit.progress import NullProgress, Progress

log = logging.getLogger(__name__)

CHECKPOINT = "last.pt"
CHECKPOINT_FORMAT = "edgekit-distill-checkpoint"
LOG_FIELDS = ("epoch", "step", "lr", "loss", "kd", "ce", "hint", "val_loss", "val_accuracy", "val_agreement",
              "eval_accuracy", "eval_agreement", "wall_s")
EVAL_BATCH = 256
ESTIMATE_AFTER = 10  # steps timed before the up-front estimate of the run's length


@dataclass
class DistillResult:
    student: Any  # the trained nn.Module, on CPU, in eval mode
    history: list[dict[str, Any]]
    summary: dict[str, Any]


@dataclass
class _State:
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    running: dict[str, float] = field(default_factory=dict)  # loss sums of the current epoch
    best_metric: float | None = None
    best_epoch: int | None = None
    best_state: dict[str, Any] | None = None
    patience_ref: float | None = None  # the validation loss at the last significant gain (a fall > min_delta)
    bad_epochs: int = 0  # epochs since then
    stop_reason: str | None = None  # set when patience or the time budget ends the run before its steps
    # the anneal after a plateau (stopping.ANNEAL_SHARE): the epoch patience saw the plateau at, and the step the
    # learning rate started falling to 0 from and over how many steps; None / 0 until then
    plateau_epoch: int | None = None
    anneal_from: int | None = None
    anneal_steps: int = 0
    resumed_from: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "resumed_from"}


@dataclass
class _Setup:
    cfg: DistillConfig
    seed: int
    env: distributed.DistEnv
    wrapper: StudentWithAdapters
    model: Any  # the wrapper, or DDP around it
    teacher: nn.Module
    teacher_taps: FeatureTaps | None
    optimizer: Any
    scheduler: Any
    x: Tensor
    y: Tensor | None
    batch: int
    steps_per_epoch: int
    total: int
    fingerprint: str
    patience: int  # resolved: DistillConfig.patience, or its default when None (0 without a validation split)
    anneal: _Anneal
    output: str | None = None  # which model output is the logits (edgekit/outputs.py)


@dataclass
class _Clock:
    """This invocation's wall clock: the time budget (--max-minutes) and the up-front estimate of the run."""

    first_step: int  # the step this invocation started at (resumed runs: the checkpoint's)
    started: float = field(default_factory=time.perf_counter)
    estimate: str = ""  # shown with the progress once ESTIMATE_AFTER steps are timed

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def _check_inputs(teacher: nn.Module, student: nn.Module, train: Dataset, val: Dataset | None,
                  evald: Dataset | None, output: str | None = None) -> int:
    """Teacher and student agree on the output; labels are class indices of that output. Returns classes."""
    probe = torch.from_numpy(train.x[:2])
    try:
        with torch.no_grad():
            t_out, s_out = primary(teacher.eval()(probe), output), primary(student.eval()(probe), output)
    except Exception as exc:
        raise ShapeMismatchError(f"The models cannot run the training data (sample shape {list(train.x.shape[1:])}): "
                                 f"{str(exc).splitlines()[0]}", "Pass training data shaped like the model input.") from exc
    if not isinstance(t_out, Tensor) or not isinstance(s_out, Tensor) or t_out.ndim != 2:
        raise PipelineError("Distillation needs models returning one (N, classes) logits tensor.",
                            "Wrap the model so forward() returns the logits.")
    if tuple(t_out.shape) != tuple(s_out.shape):
        raise PipelineError(f"Teacher outputs {list(t_out.shape[1:])} per sample but the student "
                            f"{list(s_out.shape[1:])}: KD compares the two distributions class by class.",
                            "Give the student the teacher's number of classes.")
    if val is not None and val.sample_shape != train.sample_shape:
        raise ShapeMismatchError(f"The validation data's samples are shaped {list(val.sample_shape or ())}, the "
                                 f"training data's {list(train.sample_shape or ())}.",
                                 "Pass validation data shaped like the training data.")
    classes = int(t_out.shape[1])
    for data, what in ((train, "training data"), (val, "validation data"), (evald, "evaluation data")):
        if data is not None and data.y is not None and len(data.y) and (data.y.min() < 0 or data.y.max() >= classes):
            raise DataError(f"The {what} has labels in [{int(data.y.min())}, {int(data.y.max())}] but the models "
                            f"output {classes} classes.", f"Labels must be class indices 0..{classes - 1}.")
    return classes


@dataclass
class _Anneal:
    """Where the schedule's anneal starts (a step) and how long it lasts; read by the schedule, set from _State."""

    start: int | None = None
    steps: int = 0


def _schedule(total: int, warmup_share: float, anneal: _Anneal) -> Any:
    """Linear warm-up, then cosine to 0 over the budget; once ``anneal`` has started (a plateau), cosine from the
    factor of that step to 0 over its steps instead."""
    warm = int(round(total * warmup_share))

    def base(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def factor(step: int) -> float:
        if anneal.start is None or step < anneal.start:
            return base(step)
        progress = (step - anneal.start) / max(1, anneal.steps)
        return base(anneal.start) * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def _optimizer(params: list[nn.Parameter], cfg: DistillConfig) -> Any:
    if cfg.optimizer is Optimizer.SGD:
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                               weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def _fingerprint(cfg: DistillConfig, seed: int, wrapper: nn.Module, split: Selection, labels: bool) -> str:
    """What a checkpoint must match: the settings, the student's shapes, the samples trained on and the
    validation split (given, or held out of the training data: both change which epoch is kept)."""
    digest = hashlib.sha256()
    digest.update(json.dumps({**cfg.result_fields(), "seed": seed, "labels": labels}, sort_keys=True).encode())
    for name, tensor in wrapper.state_dict().items():
        digest.update(f"{name}{tuple(tensor.shape)}".encode())
    digest.update(np.ascontiguousarray(split.train.x).tobytes())
    if labels and split.train.y is not None:
        digest.update(split.train.y.tobytes())
    for array in (split.val.x, split.val.y) if split.val is not None else ():
        digest.update(b"val" + (b"-" if array is None else np.ascontiguousarray(array).tobytes()))
    return digest.hexdigest()


def _setup(teacher: nn.Module, student: nn.Module, split: Selection, cfg: DistillConfig, seed: int,
           output: str | None = None) -> _Setup:
    train = split.train
    env = distributed.setup(cfg.device)
    torch.manual_seed(seed)
    adapters, _ = build_adapters(student, teacher, cfg.hints, torch.from_numpy(train.x[:2]))
    wrapper = StudentWithAdapters(student, cfg.hints, adapters, output).to(env.device)
    teacher = teacher.to(env.device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    taps = FeatureTaps(teacher, [h.teacher for h in cfg.hints], "teacher") if cfg.hints else None
    n = len(train)
    batch = min(cfg.batch_size, n)
    if batch < env.world_size:
        raise DataError(f"A global batch of {batch} cannot be split over {env.world_size} processes.",
                        "Use more training samples or a larger --distill-batch-size.")
    steps_per_epoch = n // batch  # drop the last partial batch: every step has the same size on every rank
    total = cfg.steps or cfg.epochs * steps_per_epoch
    optimizer = _optimizer([p for p in wrapper.parameters() if p.requires_grad], cfg)
    anneal = _Anneal()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(total, cfg.warmup, anneal))
    labels = cfg.use_labels and train.y is not None
    y = torch.from_numpy(train.y) if labels else None
    patience = cfg.patience if cfg.patience is not None else DEFAULT_PATIENCE if split.val is not None else 0
    return _Setup(cfg, seed, env, wrapper, env.wrap(wrapper), teacher, taps, optimizer, scheduler,
                  torch.from_numpy(train.x), y, batch, steps_per_epoch, total,
                  _fingerprint(cfg, seed, wrapper, split, labels), patience, anneal, output)


def _augment(x: Tensor, names: tuple[str, ...], generator: torch.Generator) -> Tensor:
    if "hflip" in names:
        flip = torch.rand(x.shape[0], generator=generator) < 0.5
        x = torch.where(flip.view(-1, *([1] * (x.ndim - 1))), x.flip(-1), x)
    if "shift" in names and x.ndim == 4:
        h, w = x.shape[-2:]
        pad = max(1, min(h, w) // 8)
        padded = F.pad(x, (pad, pad, pad, pad))
        offsets = torch.randint(0, 2 * pad + 1, (x.shape[0], 2), generator=generator)
        x = torch.stack([padded[i, :, dy:dy + h, dx:dx + w] for i, (dy, dx) in enumerate(offsets.tolist())])
    return x


def _autocast(s: _Setup) -> Any:
    if s.env.device.type == "cuda" and s.cfg.amp and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)  # bf16 needs no gradient scaler
    return contextlib.nullcontext()


def _train_step(s: _Setup, index: Tensor, step: int) -> dict[str, float]:
    x = s.x[index]
    if s.cfg.augment:
        x = _augment(x, s.cfg.augment, torch.Generator().manual_seed(s.seed * 1_000_003 + step))
    local = torch.arange(len(index))[s.env.rank::s.env.world_size]
    x = x[local].to(s.env.device)
    y = s.y[index][local].to(s.env.device) if s.y is not None else None
    with _autocast(s):
        with torch.no_grad():
            t_logits = primary(s.teacher(x), s.output)
            t_feats = s.teacher_taps.take() if s.teacher_taps else []
        s_logits, s_feats = s.model(x)
        parts = distill_loss(s_logits, t_logits, y, temperature=s.cfg.temperature, alpha=s.cfg.alpha)
        if s_feats:
            parts["hint"] = hint_loss(s_feats, t_feats)
            parts["total"] = parts["total"] + s.cfg.hint_weight * parts["hint"]
    s.optimizer.zero_grad(set_to_none=True)
    parts["total"].backward()
    if s.cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(s.wrapper.parameters(), s.cfg.grad_clip)
    s.optimizer.step()
    s.scheduler.step()
    return {("loss" if k == "total" else k): float(v.detach()) for k, v in parts.items()}


@torch.no_grad()
def _predict(model: nn.Module, x: np.ndarray, device: Any, output: str | None = None) -> Tensor:
    model.eval()
    outs = [primary(model(torch.from_numpy(x[i:i + EVAL_BATCH]).to(device)), output).float().cpu()
            for i in range(0, len(x), EVAL_BATCH)]
    return torch.cat(outs)


@dataclass
class _Probe:
    """A split the student is scored on after each epoch: "val" selects (keep-best, patience), "eval" is only logged."""

    prefix: str
    data: Dataset
    teacher_top1: Tensor
    teacher_logits: Tensor | None = None  # "val" only: its distillation loss is what patience watches


def _probes(s: _Setup, val: Dataset | None, evald: Dataset | None) -> list[_Probe]:
    probes = []
    for prefix, data in (("val", val), ("eval", evald)):
        if data is not None:
            logits = _predict(s.teacher, data.x, s.env.device, s.output)
            probes.append(_Probe(prefix, data, logits.argmax(1), logits if prefix == "val" else None))
    return probes


def _evaluate(s: _Setup, student: nn.Module, probes: list[_Probe]) -> dict[str, float]:
    """Top-1 agreement with the teacher and accuracy (with labels) per split; on the validation split also the
    distillation loss on the logits (the training objective without hints, labels as in training)."""
    row = {}
    for probe in probes:
        logits = _predict(student, probe.data.x, s.env.device, s.output)
        top1 = logits.argmax(1)
        row[f"{probe.prefix}_agreement"] = float((top1 == probe.teacher_top1).float().mean() * 100)
        if probe.data.y is not None:
            row[f"{probe.prefix}_accuracy"] = float((top1.numpy() == probe.data.y).mean() * 100)
        if probe.teacher_logits is not None:
            y = torch.from_numpy(probe.data.y) if probe.data.y is not None and s.y is not None else None
            parts = distill_loss(logits, probe.teacher_logits, y, temperature=s.cfg.temperature, alpha=s.cfg.alpha)
            row[f"{probe.prefix}_loss"] = float(parts["total"])
    return row


def _rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def save_checkpoint(s: _Setup, state: _State, directory: Path) -> Path:
    """Everything a resumed run needs, written atomically (a kill mid-write keeps the previous one)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / CHECKPOINT
    payload = {"format": CHECKPOINT_FORMAT, "version": 1, "fingerprint": s.fingerprint,
               "model": s.wrapper.state_dict(), "optimizer": s.optimizer.state_dict(),
               "scheduler": s.scheduler.state_dict(), "rng": _rng_state(), "state": state.to_dict()}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(s: _Setup, directory: Path) -> _State | None:
    """Restore model, optimizer, schedule, RNG and loop state; None when there is no checkpoint yet."""
    path = directory / CHECKPOINT
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location=s.env.device, weights_only=True)
    except Exception as exc:
        raise PipelineError(f"Cannot read the distillation checkpoint {path}: {exc}.",
                            "Delete it to start over (drop --resume).") from exc
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise PipelineError(f"{path} is not an edgekit distillation checkpoint.", "Delete it or drop --resume.")
    if payload["fingerprint"] != s.fingerprint:
        raise PipelineError(f"The checkpoint in {directory} was written by a run with other settings, another "
                            "student or other training or validation data; resuming it would not reproduce either run.",
                            "Rerun with the original options, or delete the checkpoint directory and drop --resume.")
    s.wrapper.load_state_dict(payload["model"])
    s.optimizer.load_state_dict(payload["optimizer"])
    s.scheduler.load_state_dict(payload["scheduler"])
    torch.set_rng_state(payload["rng"]["torch"].cpu())
    if "cuda" in payload["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in payload["rng"]["cuda"]])
    state = _State(**payload["state"])
    state.resumed_from = state.step
    s.anneal.start, s.anneal.steps = state.anneal_from, state.anneal_steps
    if state.stop_reason == "time":  # the time budget ends an invocation, not the run: this one has its own
        state.stop_reason = None
    return state


def _epoch_order(n: int, seed: int, epoch: int) -> Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 7919 + epoch))


def _end_epoch(s: _Setup, state: _State, epoch: int, probes: list[_Probe], clock: _Clock) -> None:
    """Eval, log row, keep-best, early stopping and the time budget: identical decisions on every rank."""
    s.env.sync_buffers(s.wrapper)
    count = state.running.pop("count", 1.0)
    means = s.env.mean([state.running[k] / count for k in sorted(state.running)])
    row: dict[str, Any] = {"epoch": epoch + 1, "step": state.step, "lr": s.optimizer.param_groups[0]["lr"],
                           **dict(zip(sorted(state.running), means))}
    row.update(_evaluate(s, s.wrapper.student, probes))
    row["wall_s"] = round(clock.elapsed(), 3)
    state.running = {}
    state.history.append(row)
    tracked = _track_best(s, state, row)
    if state.step >= s.total:  # the budget ended it: nothing to decide
        return
    # the anneal a plateau seen now would start: from epoch, patience and budget, the same on every rank
    anneal = anneal_epochs(epoch + 1, s.patience, (s.total - state.step) // s.steps_per_epoch)
    reason, plateau = None, False
    if state.anneal_from is not None:  # annealing after the plateau: it runs to its end, then the run stops
        if state.step >= state.anneal_from + state.anneal_steps:
            reason = "patience"
    elif tracked and s.patience and state.bad_epochs >= s.patience:
        plateau = anneal > 0
        reason = None if plateau else "patience"  # no epoch left in the budget to anneal over
    if reason is None and s.cfg.max_minutes is not None and clock.elapsed() >= s.cfg.max_minutes * 60:
        reason = "time"  # a plateau seen now still starts its anneal: the checkpoint carries it to the resumed run
    # rank 0 decides for all: (stop reason + 1, or 0) * 2 + whether the anneal starts
    decided = s.env.from_main((STOP_REASONS.index(reason) + 1 if reason else 0) * 2 + plateau)
    if decided % 2:
        _start_anneal(s, state, epoch + 1, anneal)
    state.stop_reason = STOP_REASONS[decided // 2 - 1] if decided >= 2 else None


def _start_anneal(s: _Setup, state: _State, epoch: int, epochs: int) -> None:
    """Patience saw a plateau at ``epoch``: the learning rate falls from here to 0 over ``epochs``
    (stopping.anneal_epochs)."""
    state.plateau_epoch, state.anneal_from, state.anneal_steps = epoch, state.step, epochs * s.steps_per_epoch
    s.anneal.start, s.anneal.steps = state.anneal_from, state.anneal_steps
    log.info("distillation: the validation loss plateaued at epoch %d; annealing the learning rate to 0 over %d "
             "epoch%s, then stopping", epoch, epochs, "s" * (epochs != 1))


def _track_best(s: _Setup, state: _State, row: dict[str, Any]) -> bool:
    """Keep-best and patience on the validation split (never the eval data); the starting weights (epoch 0)
    compete too. Keep-best takes the best accuracy (agreement without labels); a tie goes to the later epoch (a
    small validation split saturates, and the later weights have trained longer). Patience counts epochs since
    the validation loss last fell by more than min_delta (stopping.improves): it still resolves progress once
    the accuracy of a small split has saturated. False without a validation split."""
    metric = row.get("val_accuracy", row.get("val_agreement"))
    if metric is None:
        return False
    if improves(row["val_loss"], state.patience_ref, s.cfg.min_delta):
        state.patience_ref, state.bad_epochs = row["val_loss"], 0
    else:
        state.bad_epochs += 1
    if state.best_metric is None or metric >= state.best_metric:
        state.best_metric, state.best_epoch = metric, row["epoch"]
        if s.cfg.keep_best:
            state.best_state = {k: v.detach().cpu().clone() for k, v in s.wrapper.student.state_dict().items()}
    return True


def _write_log(history: list[dict[str, Any]], directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "log.json").write_text(json.dumps(history, indent=1) + "\n")
    lines = [",".join(LOG_FIELDS)]
    for row in history:
        lines.append(",".join("" if row.get(k) is None else f"{row[k]:.6g}" if isinstance(row[k], float)
                              else str(row[k]) for k in LOG_FIELDS))
    (directory / "log.csv").write_text("\n".join(lines) + "\n")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def _estimate(s: _Setup, state: _State, clock: _Clock) -> str:
    """The run's length, up front: this host's time per step so far times the steps the budget has left."""
    per_step = clock.elapsed() / max(1, state.step - clock.first_step)
    epochs = math.ceil(s.total / s.steps_per_epoch)
    text = (f"about {_duration(per_step * s.steps_per_epoch)} per epoch, at most {epochs} "
            f"epoch{'s' * (epochs != 1)}: up to ~{_duration(per_step * (s.total - state.step))} more")
    if s.patience:
        text += f" (stops sooner after {s.patience} epochs without a gain)"
    if s.cfg.max_minutes is not None:
        text += f", time budget {s.cfg.max_minutes:g} min"
    return text


def _run_epoch(s: _Setup, state: _State, progress: Progress, checkpoint_dir: Path | None, key: str,
               clock: _Clock) -> int:
    epoch = state.step // s.steps_per_epoch
    order = _epoch_order(len(s.x), s.seed, epoch)
    s.model.train()
    for k in range(state.step % s.steps_per_epoch, s.steps_per_epoch):
        if state.step >= s.total:
            break
        parts = _train_step(s, order[k * s.batch:(k + 1) * s.batch], state.step)
        state.step += 1
        for name, value in parts.items():
            state.running[name] = state.running.get(name, 0.0) + value
        state.running["count"] = state.running.get("count", 0.0) + 1
        if not clock.estimate and state.step - clock.first_step >= min(ESTIMATE_AFTER, s.steps_per_epoch):
            clock.estimate = _estimate(s, state, clock)
            log.info("distillation: %s", clock.estimate)
        progress.update(key, state.step, s.total, f"{key} epoch {epoch + 1} loss {parts['loss']:.4f}"
                        + (f"; {clock.estimate}" if clock.estimate else ""))
        every = s.cfg.checkpoint_every
        if every and state.step % every == 0 and checkpoint_dir is not None and s.env.is_main:
            save_checkpoint(s, state, checkpoint_dir)
    return epoch


def distill(teacher: nn.Module, student: nn.Module, train: Dataset, evald: Dataset | None, cfg: DistillConfig, *,
            val: Dataset | None = None, seed: int = 0, checkpoint_dir: Path | None = None, log_dir: Path | None = None,
            progress: Progress | None = None, progress_key: str = "distill", output: str | None = None) -> DistillResult:
    """Train ``student`` (in place) against ``teacher`` on ``train``; score it on the validation split and on
    ``evald`` each epoch. Keep-best and patience select on the validation split only: ``val`` when given, else
    a seeded held-out share of ``train`` (``cfg.val_fraction``, not trained on); ``evald`` is only logged.

    Only rank 0 writes (checkpoints in ``checkpoint_dir``, log.csv/log.json in ``log_dir``). Steps are
    reported as ``progress.update(progress_key, ...)``: the caller starts and finishes that task.
    With ``cfg.resume`` the last checkpoint in ``checkpoint_dir`` is continued. ``output``: which output of the
    models is the logits (edgekit/outputs.py: None = ``logits``, else the first tensor).
    """
    progress = progress or NullProgress()
    seed = cfg.seed if cfg.seed is not None else seed
    _check_inputs(teacher, student, train, val, evald, output)
    split = _selection(train, val, evald, cfg, seed)
    s = _setup(teacher, student, split, cfg, seed, output)
    state = (load_checkpoint(s, checkpoint_dir) if cfg.resume and checkpoint_dir else None) or _State()
    probes = _probes(s, split.val, evald)
    if not state.history:
        state.history.append({"epoch": 0, "step": 0, **_evaluate(s, s.wrapper.student, probes)})
        _track_best(s, state, state.history[0])
    writes = s.env.is_main
    clock = _Clock(state.step)
    try:
        while state.step < s.total and state.stop_reason is None:
            epoch = _run_epoch(s, state, progress, checkpoint_dir, progress_key, clock)
            _end_epoch(s, state, epoch, probes, clock)
            if writes and checkpoint_dir is not None:
                save_checkpoint(s, state, checkpoint_dir)
            if writes and log_dir is not None:
                _write_log(state.history, log_dir)
    finally:
        s.wrapper.remove_hooks()
        if s.teacher_taps is not None:
            s.teacher_taps.remove()
    return _finish(s, state, split, probes, log_dir if writes else None, clock)


def _selection(train: Dataset, val: Dataset | None, evald: Dataset | None, cfg: DistillConfig, seed: int) -> Selection:
    check_not_eval(val, evald)
    if val is None and not cfg.keep_best and cfg.patience == 0:
        return Selection.none(train, "nothing selects an epoch (--no-keep-best, --patience 0)")
    split = selection_split(train, val, cfg.val_fraction, seed, cfg.use_labels)
    if split.val is None and cfg.patience:
        raise DataError(f"Early stopping (--patience {cfg.patience}) watches the validation split, and there is "
                        f"none: {split.info['reason']}.", "Pass --val-data, raise --val-fraction, or drop --patience.")
    if split.val is None:  # the default patience cannot apply: said, not an error
        what = ["trains the whole budget (no early stopping)"] if cfg.patience is None else []
        what += ["keeps the last epoch's weights"] if cfg.keep_best else []
        log.warning("distillation %s: no validation split (%s)", " and ".join(what), split.info["reason"])
    return split


def _stopping(s: _Setup, state: _State, split: Selection, clock: _Clock) -> dict[str, Any]:
    """Why training ended and, when the budget ended it, whether the student was still improving (on the
    validation split) and the budget to try instead, as the option to pass (distill/stopping.py)."""
    # an anneal that the budget's last step ended still ended for the plateau it followed
    reason = state.stop_reason or ("patience" if state.anneal_from is not None else "steps" if s.cfg.steps else "epochs")
    out: dict[str, Any] = {"stop_reason": reason, "max_epochs": math.ceil(s.total / s.steps_per_epoch),
                           "patience": s.patience, "min_delta": s.cfg.min_delta,
                           "plateau_epoch": state.plateau_epoch,
                           "anneal_epochs": state.anneal_steps // s.steps_per_epoch if state.anneal_steps else None,
                           "early_stopping": "on" if s.patience else
                           "--patience 0" if s.cfg.patience == 0 else f"no validation split ({split.info['reason']})",
                           "still_improving": None, "last_gain_epoch": None, "suggestion": None}
    if split.info["metric"] is None:
        return out
    curve = [row["val_loss"] for row in state.history]
    out.update(verdict(curve, stop_reason=reason, window=s.patience or DEFAULT_PATIENCE, min_delta=s.cfg.min_delta))
    suggestion = out["suggestion"]
    if suggestion is not None:
        epochs = suggestion["epochs"]
        if reason == "steps":
            suggestion["option"] = f"--steps {epochs * s.steps_per_epoch}"
        elif reason == "time":
            ran = max(1, len(state.history) - 1 - clock.first_step // s.steps_per_epoch)
            minutes = math.ceil(clock.elapsed() / ran * min(epochs, out["max_epochs"]) / 60)
            suggestion["option"] = f"--max-minutes {minutes}"
        else:
            suggestion["option"] = f"--epochs {epochs}"
    return out


def _finish(s: _Setup, state: _State, split: Selection, probes: list[_Probe], log_dir: Path | None,
            clock: _Clock) -> DistillResult:
    student = s.wrapper.student
    if s.cfg.keep_best and state.best_state is not None:
        student.load_state_dict(state.best_state)
    final = _evaluate(s, student, probes)
    judged = next((p for p in probes if p.prefix == "eval"), None)
    teacher_acc = None
    if judged is not None and judged.data.y is not None:
        teacher_acc = float((judged.teacher_top1.numpy() == judged.data.y).mean() * 100)
    if log_dir is not None:
        _write_log(state.history, log_dir)
    labels = s.y is not None
    summary = {"config": s.cfg.to_dict(), "seed": s.seed, "world_size": s.env.world_size,
               "backend": s.env.backend, "device": str(s.env.device),
               "amp": isinstance(_autocast(s), torch.autocast), "labels_used": labels,
               "loss": "alpha*T^2*KL(p_t||p_s) + (1-alpha)*CE" if labels else "T^2*KL(p_t||p_s) (no labels: pure KD)",
               "train_samples": int(len(s.x)), "batch_size": s.batch, "steps_per_epoch": s.steps_per_epoch,
               "steps": state.step, "planned_steps": s.total, "epochs_run": len(state.history) - 1,
               "stopped_early": state.stop_reason == "patience", **_stopping(s, state, split, clock),
               "resumed_from_step": state.resumed_from,
               "selected_on": split.info, "metric": split.info["metric"],
               "evaluation": None if judged is None else {"source": judged.data.source, "samples": len(judged.data)},
               "best_epoch": state.best_epoch if s.cfg.keep_best else None, "best_metric": state.best_metric,
               "teacher_accuracy": teacher_acc, "before": state.history[0], "after": final}
    return DistillResult(student.cpu().eval(), state.history, summary)
