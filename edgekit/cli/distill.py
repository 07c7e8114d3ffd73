"""The distillation options of `edgekit compress` (light: nothing heavy imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.distill.config import AUGMENTATIONS, DistillConfig, Optimizer

# the one source of every default below: the dataclass the options end up in
D = DistillConfig()

# options that only mean something with --distill: given alone they are a usage error, not ignored
TRAINING_PARAMS = ("epochs", "distill_steps", "distill_batch_size", "optimizer", "lr", "weight_decay", "warmup",
                   "grad_clip", "kd_temperature", "kd_alpha", "kd_no_labels", "hints", "hint_weight", "patience",
                   "no_keep_best", "checkpoint_every", "checkpoint_dir", "resume", "augment", "distill_device",
                   "qat", "qat_epochs", "qat_lr")


def distill_options(func: Any) -> Any:
    options = [
        click.option("--qat-lr", type=float, help="QAT learning rate (default: --lr / 10)."),
        click.option("--qat-epochs", type=click.IntRange(min=1), default=D.qat_epochs, show_default=True,
                     help="Epochs of quantization-aware fine-tuning."),
        click.option("--qat", is_flag=True,
                     help="Quantization-aware distillation: add an INT8 variant fine-tuned with fake quantization "
                          "against the original (needs int8 in the profile's precisions), beside the PTQ one. "
                          "Without --prune/--student the original itself is fine-tuned."),
        click.option("--distill-device", type=click.Choice(["auto", "cpu", "cuda"]), default=D.device, show_default=True,
                     help="Distillation device (auto: the local GPU when there is one; bf16 AMP on CUDA only)."),
        click.option("--augment", multiple=True, type=click.Choice(AUGMENTATIONS),
                     help="Training augmentation of image batches (repeatable)."),
        click.option("--resume", is_flag=True,
                     help="Continue a killed distillation from its last checkpoint (same options, same result)."),
        click.option("--checkpoint-dir", type=click.Path(path_type=Path),
                     help="Where checkpoints go while training (default: .OUT.distill beside --out)."),
        click.option("--checkpoint-every", type=click.IntRange(min=0), default=D.checkpoint_every, show_default=True,
                     help="Checkpoint every N steps (0: at the end of each epoch only)."),
        click.option("--no-keep-best", is_flag=True, help="End with the last weights, not the best eval epoch's."),
        click.option("--patience", type=click.IntRange(min=0), default=D.patience, show_default=True,
                     help="Stop after N epochs without eval improvement (0: never)."),
        click.option("--hint-weight", type=float, default=D.hint_weight, show_default=True, help="Weight of the hint losses."),
        click.option("--hint", "hints", multiple=True, metavar="STUDENT:TEACHER",
                     help="Feature distillation between named layers, e.g. conv2:conv2 (repeatable; "
                          "an adapter maps the student's width to the teacher's)."),
        click.option("--kd-no-labels", is_flag=True, help="Pure KD: ignore the labels of the training data."),
        click.option("--kd-alpha", type=float, default=D.alpha, show_default=True,
                     help="Weight of the KD term; 1 - alpha weighs cross-entropy on labels."),
        click.option("--kd-temperature", type=float, default=D.temperature, show_default=True, help="Softmax temperature T."),
        click.option("--grad-clip", type=float, default=D.grad_clip, show_default=True, help="Max gradient norm (0: off)."),
        click.option("--warmup", type=float, default=D.warmup, show_default=True,
                     help="Share of the steps with linear warm-up (then cosine decay)."),
        click.option("--weight-decay", type=float, default=D.weight_decay, show_default=True),
        click.option("--lr", type=float, default=D.lr, show_default=True, help="Peak learning rate."),
        click.option("--optimizer", type=click.Choice([o.value for o in Optimizer]), default=D.optimizer.value, show_default=True),
        click.option("--distill-batch-size", type=click.IntRange(min=1), default=D.batch_size, show_default=True,
                     help="Global batch size (split across torchrun processes)."),
        click.option("--steps", "distill_steps", type=click.IntRange(min=1), help="Total steps (overrides --epochs)."),
        click.option("--epochs", type=click.IntRange(min=1), default=D.epochs, show_default=True),
        click.option("--student-weights", type=click.Path(path_type=Path), help="Initial state_dict for --student."),
        click.option("--student", help="Student architecture 'package.module:factory' (instead of --prune)."),
        click.option("--train-data", help="Distillation training data: .npz (x[, y]), image folder, or module:callable."),
        click.option("--distill", is_flag=True,
                     help="Distil the pruned model (or --student) from the original model on --train-data."),
    ]
    for option in options:
        func = option(func)
    return func


def pop_distill(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the distillation options out of ``kwargs``; the compress() arguments they make."""
    values = {name: kwargs.pop(name) for name in (*TRAINING_PARAMS, "distill", "train_data", "student",
                                                   "student_weights")}
    api_args = {"train_data": values["train_data"], "student": values["student"],
                "student_weights": values["student_weights"], "distill": None}
    if not values["distill"]:
        ctx = click.get_current_context()
        given = [n for n in TRAINING_PARAMS if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
        if given:
            flag = "--" + given[0].replace("distill_steps", "steps").replace("_", "-")
            raise click.UsageError(f"{flag} is a distillation option: add --distill.")
        return api_args
    from edgekit.api import distill_config

    api_args["distill"] = distill_config(
        epochs=values["epochs"], steps=values["distill_steps"], batch_size=values["distill_batch_size"],
        optimizer=values["optimizer"], lr=values["lr"], weight_decay=values["weight_decay"], warmup=values["warmup"],
        grad_clip=values["grad_clip"], temperature=values["kd_temperature"], alpha=values["kd_alpha"],
        use_labels=not values["kd_no_labels"], hints=values["hints"], hint_weight=values["hint_weight"],
        patience=values["patience"], keep_best=not values["no_keep_best"], checkpoint_every=values["checkpoint_every"],
        checkpoint_dir=values["checkpoint_dir"], resume=values["resume"], augment=values["augment"],
        device=values["distill_device"], qat=values["qat"], qat_epochs=values["qat_epochs"], qat_lr=values["qat_lr"])
    return api_args
