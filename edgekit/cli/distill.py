"""The distillation options of `edgekit compress` and `edgekit sweep` (light: nothing heavy imported)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgekit.cli.options import option_group
from edgekit.distill.config import AUGMENTATIONS, DistillConfig, Optimizer
from edgekit.distill.stopping import DEFAULT_PATIENCE

# the one source of every default below: the dataclass the options end up in
D = DistillConfig()

# CLI parameter -> the DistillConfig field it sets; these only mean something with --distill (alone: a usage error)
FIELDS = {"epochs": "epochs", "distill_steps": "steps", "distill_batch_size": "batch_size", "optimizer": "optimizer",
          "lr": "lr", "weight_decay": "weight_decay", "warmup": "warmup", "grad_clip": "grad_clip",
          "kd_temperature": "temperature", "kd_alpha": "alpha", "kd_no_labels": "use_labels", "hints": "hints",
          "hint_weight": "hint_weight", "patience": "patience", "min_delta": "min_delta", "max_minutes": "max_minutes",
          "no_keep_best": "keep_best",
          "val_fraction": "val_fraction", "checkpoint_every": "checkpoint_every", "checkpoint_dir": "checkpoint_dir",
          "resume": "resume", "augment": "augment", "distill_device": "device", "qat": "qat", "qat_epochs": "qat_epochs", "qat_lr": "qat_lr"}
NEGATED = ("kd_no_labels", "no_keep_best")  # flags that turn a field that defaults to True off
# the arguments of compress() that come with the distillation options, not in DistillConfig
INPUTS = ("train_data", "val_data", "student", "student_weights")


def _options() -> dict[str, Any]:
    return {
        "distill": click.option("--distill", is_flag=True,
                                help="Distil the pruned model(s) (compress: or --student) from the original model on --train-data."),
        "train_data": click.option("--train-data",
                                   help="Distillation training data: .npz (x[, y]), image folder, or module:callable."),
        "val_data": click.option("--val-data",
                                 help="Distillation validation data (same forms): keep-best and --patience select the "
                                      "epoch on it, never on --eval-data (default: --val-fraction of --train-data held out)."),
        "val_fraction": click.option("--val-fraction", type=click.FloatRange(0, 0.5), default=D.val_fraction,
                                     show_default=True,
                                     help="Without --val-data: share of --train-data held out (seeded) to select the "
                                          "epoch on; 0 trains on all of it and keeps the last epoch."),
        "student": click.option("--student", help="Student architecture 'package.module:factory' (instead of --prune)."),
        "student_weights": click.option("--student-weights", type=click.Path(path_type=Path),
                                        help="Initial state_dict for --student."),
        "epochs": click.option("--epochs", type=click.IntRange(min=1), default=D.epochs, show_default=True,
                               help="The budget: the most passes over --train-data. Training stops sooner once the "
                                    "validation split stops improving (--patience); the report says when the budget "
                                    "ended it while still improving, and the budget to try."),
        "distill_steps": click.option("--steps", "distill_steps", type=click.IntRange(min=1),
                                      help="The budget as total optimizer steps (instead of --epochs)."),
        "distill_batch_size": click.option("--distill-batch-size", type=click.IntRange(min=1), default=D.batch_size,
                                           show_default=True, help="Global batch size (split across torchrun processes)."),
        "optimizer": click.option("--optimizer", type=click.Choice([o.value for o in Optimizer]),
                                  default=D.optimizer.value, show_default=True,
                                  help="AdamW, or SGD with Nesterov momentum."),
        "lr": click.option("--lr", type=float, default=D.lr, show_default=True, help="Peak learning rate."),
        "weight_decay": click.option("--weight-decay", type=float, default=D.weight_decay, show_default=True,
                                     help="Decoupled weight decay (AdamW) / L2 (SGD)."),
        "warmup": click.option("--warmup", type=float, default=D.warmup, show_default=True,
                               help="Share of the steps with linear warm-up (then cosine decay)."),
        "grad_clip": click.option("--grad-clip", type=float, default=D.grad_clip, show_default=True,
                                  help="Max gradient norm (0: off)."),
        "kd_temperature": click.option("--kd-temperature", type=float, default=D.temperature, show_default=True,
                                       help="Softmax temperature T."),
        "kd_alpha": click.option("--kd-alpha", type=float, default=D.alpha, show_default=True,
                                 help="Weight of the KD term; 1 - alpha weighs cross-entropy on labels."),
        "kd_no_labels": click.option("--kd-no-labels", is_flag=True, help="Pure KD: ignore the labels of the training data."),
        "hints": click.option("--hint", "hints", multiple=True, metavar="STUDENT:TEACHER",
                              help="Feature distillation between named layers, e.g. conv2:conv2 (repeatable; "
                                   "an adapter maps the student's width to the teacher's)."),
        "hint_weight": click.option("--hint-weight", type=float, default=D.hint_weight, show_default=True,
                                    help="Weight of the hint losses."),
        "patience": click.option("--patience", type=click.IntRange(min=0), default=D.patience,
                                 show_default=f"{DEFAULT_PATIENCE} with a validation split, else none",
                                 help="After N epochs in which the distillation loss on the validation split did not "
                                      "fall by more than --min-delta, anneal the learning rate to 0 over a quarter of "
                                      "the epochs run, then stop (0: never, train the whole budget). Without a "
                                      "validation split the default trains the whole budget; an explicit N needs one."),
        "min_delta": click.option("--min-delta", type=click.FloatRange(0, 1, max_open=True), default=D.min_delta,
                                  show_default=True,
                                  help="Share by which the validation loss must fall below its last counted gain to "
                                       "reset --patience (0.01 = 1%): smaller falls count as noise."),
        "max_minutes": click.option("--max-minutes", type=click.FloatRange(min=0, min_open=True),
                                    help="Wall-clock budget of this invocation, checked after each epoch (the report "
                                         "says when it ended training); --resume with a larger one continues the run."),
        "no_keep_best": click.option("--no-keep-best", is_flag=True,
                                     help="End with the last weights, not the best validation epoch's."),
        "checkpoint_every": click.option("--checkpoint-every", type=click.IntRange(min=0), default=D.checkpoint_every,
                                         show_default=True, help="Checkpoint every N steps (0: at the end of each epoch only)."),
        "checkpoint_dir": click.option("--checkpoint-dir", type=click.Path(path_type=Path),
                                       help="Where checkpoints go while training (default: .OUT.distill beside --out)."),
        "resume": click.option("--resume", is_flag=True,
                               help="Continue a killed distillation from its last checkpoint (same options, same result)."),
        "augment": click.option("--augment", multiple=True, type=click.Choice(AUGMENTATIONS),
                                help="Training augmentation of image batches (repeatable)."),
        "distill_device": click.option("--distill-device", type=click.Choice(["auto", "cpu", "cuda"]), default=D.device,
                                       show_default=True,
                                       help="Distillation device (auto: the local GPU when there is one; bf16 AMP on CUDA only)."),
        "qat": click.option("--qat", is_flag=True,
                            help="Quantization-aware distillation: add an INT8 variant fine-tuned with fake quantization "
                                 "against the original (needs int8 in the profile's precisions), beside the PTQ one. "
                                 "Without --prune/--student the original itself is fine-tuned."),
        "qat_epochs": click.option("--qat-epochs", type=click.IntRange(min=1), default=D.qat_epochs, show_default=True,
                                   help="Epochs of quantization-aware fine-tuning."),
        "qat_lr": click.option("--qat-lr", type=float, help="QAT learning rate (default: --lr / 10)."),
    }


DISTILL_PARAMS = tuple(_options())


def distill_options(func: Any = None, *, only: tuple[str, ...] | None = None) -> Any:
    """Decorator adding the distillation options (all of them, or ``only`` these parameters, in this order)."""
    return option_group(_options(), func, only=only)


def pop_distill(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Take the distillation options out of ``kwargs``; the compress()/sweep() arguments they make
    (``distill``: a DistillConfig or None, and those of INPUTS the command has)."""
    values = {name: kwargs.pop(name) for name in (*FIELDS, "distill", *INPUTS) if name in kwargs}
    api_args = {name: values[name] for name in INPUTS if name in values}
    api_args["distill"] = None
    if not values["distill"]:
        ctx = click.get_current_context()
        given = [n for n in FIELDS if n in values
                 and ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]
        if given:
            flag = next(p.opts[0] for p in ctx.command.params if p.name == given[0])
            raise click.UsageError(f"{flag} is a distillation option: add --distill.")
        return api_args
    from edgekit.api import distill_config

    settings = {FIELDS[name]: (not value if name in NEGATED else value)
                for name, value in values.items() if name in FIELDS}
    api_args["distill"] = distill_config(**settings)
    return api_args
