"""The distillation settings: one frozen dataclass, validated on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import Enum
from typing import Any

AUGMENTATIONS = ("hflip", "shift")

# settings that change how a run is driven, not what it computes: a checkpoint written under
# other values of these is still a valid starting point for --resume
# (the qat_* fields do not change the FP32 distillation, and the QAT phase carries them as epochs / lr;
# max_minutes only decides when an invocation stops, so a run the time budget ended resumes with a larger one.
# epochs / steps are result fields: the learning-rate schedule spans the budget, so another budget is another run)
NON_RESULT_FIELDS = ("resume", "checkpoint_dir", "checkpoint_every", "max_minutes", "qat", "qat_epochs", "qat_lr")


class Optimizer(str, Enum):
    ADAMW = "adamw"
    SGD = "sgd"


@dataclass(frozen=True)
class HintPair:
    """Feature distillation from teacher layer ``teacher`` into student layer ``student`` (module names)."""

    student: str
    teacher: str

    @classmethod
    def parse(cls, text: str) -> HintPair:
        student, sep, teacher = text.partition(":")
        if not sep or not student or not teacher:
            raise ValueError(f"hint {text!r} is not STUDENT_LAYER:TEACHER_LAYER (e.g. conv2:conv2)")
        return cls(student.strip(), teacher.strip())


@dataclass(frozen=True)
class DistillConfig:
    # the budget: the most passes over the training data (early stopping usually ends sooner). 60: the digits CNN
    # pruned 60% (issue 20) recovered to -0.37 points with its best epoch at 27 of a 40-epoch run, and the cosine
    # schedule spans the budget, so a budget barely above the epochs needed cuts training at a high learning rate
    epochs: int = 60
    steps: int | None = None  # total optimizer steps; when set it is the budget instead of epochs
    batch_size: int = 64  # global batch: split across ranks under torchrun
    optimizer: Optimizer = Optimizer.ADAMW
    # 3e-3: a pruned CNN restarts far from its teacher (the gated digits CNN pruned 50% scores 18% before
    # distillation). At 1e-3 it plateaued 1.1-1.9 points below the original in 8 variants on one seed (temperature
    # 1, alpha 0.5, l1 / group_norm / taylor importance, global scope, 120 epochs); at 3e-3 0.6-1.7 points over 4
    # seeds, in about half the epochs. A pretrained transformer student wants far less (--lr 1e-4 or below)
    lr: float = 3e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9  # SGD only (Nesterov)
    warmup: float = 0.05  # share of the total steps with a linear warm-up, then cosine to 0
    grad_clip: float = 5.0  # max global gradient norm; 0 = off
    temperature: float = 4.0
    alpha: float = 0.7  # weight of the KD term; 1 - alpha weighs cross-entropy on labels
    use_labels: bool = True  # False: pure KD even when the training data has labels
    hints: tuple[HintPair, ...] = ()
    hint_weight: float = 1.0
    # epochs without a gain (the validation loss falling by more than min_delta) before stopping; 0 = never (the whole
    # budget); None = DEFAULT_PATIENCE (distill/stopping.py) with a validation split, the whole budget without one
    patience: int | None = None
    # the share by which the validation loss must fall below its last counted gain to reset patience (noise guard)
    min_delta: float = 0.01
    max_minutes: float | None = None  # wall-clock budget of one invocation, checked after each epoch; None = none
    keep_best: bool = True  # end with the weights of the best validation epoch (never chosen on eval data)
    # share of the training data held out (seeded) as the validation split keep-best and patience select on,
    # when no validation data is given; 0 = train on everything (then only validation data can select)
    val_fraction: float = 0.1
    seed: int | None = None  # None: the run's seed
    checkpoint_every: int = 0  # steps between checkpoints; 0 = at the end of each epoch only
    checkpoint_dir: str | None = None  # None: chosen by the caller (compress: beside --out)
    resume: bool = False
    augment: tuple[str, ...] = ()  # "hflip", "shift" (image batches N,C,H,W)
    amp: bool = True  # bf16 autocast on CUDA; never on CPU
    device: str = "auto"  # auto | cpu | cuda
    # quantization-aware distillation: an extra INT8 variant fine-tuned with fake quantization
    # against the FP32 teacher (edgekit.qat), after the FP32 distillation (if any)
    qat: bool = False
    qat_epochs: int = 3
    qat_lr: float | None = None  # None: lr / 10 (fine-tuning a converged model with rounding noise)

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1 (got {self.epochs})"),
            (self.steps is None or self.steps >= 1, f"steps must be >= 1 (got {self.steps})"),
            (self.batch_size >= 1, f"batch size must be >= 1 (got {self.batch_size})"),
            (self.lr > 0, f"learning rate must be > 0 (got {self.lr})"),
            (self.weight_decay >= 0, f"weight decay must be >= 0 (got {self.weight_decay})"),
            (0 <= self.warmup < 1, f"warmup is a share of the steps in [0, 1) (got {self.warmup})"),
            (self.grad_clip >= 0, f"grad clip must be >= 0 (got {self.grad_clip})"),
            (self.temperature > 0, f"temperature must be > 0 (got {self.temperature})"),
            (0 <= self.alpha <= 1, f"alpha must be in [0, 1] (got {self.alpha})"),
            (self.hint_weight >= 0, f"hint weight must be >= 0 (got {self.hint_weight})"),
            (self.patience is None or self.patience >= 0, f"patience must be >= 0 (got {self.patience})"),
            (0 <= self.min_delta < 1, f"min delta is a share of the validation loss in [0, 1) (got {self.min_delta})"),
            (self.max_minutes is None or self.max_minutes > 0, f"max minutes must be > 0 (got {self.max_minutes})"),
            (0 <= self.val_fraction <= 0.5,
             f"the validation share of the training data must be in [0, 0.5] (got {self.val_fraction})"),
            (self.checkpoint_every >= 0, f"checkpoint_every must be >= 0 (got {self.checkpoint_every})"),
            (all(a in AUGMENTATIONS for a in self.augment),
             f"unknown augmentation in {list(self.augment)} (known: {', '.join(AUGMENTATIONS)})"),
            (self.device in ("auto", "cpu", "cuda"), f"device must be auto, cpu or cuda (got {self.device!r})"),
            (self.qat_epochs >= 1, f"QAT epochs must be >= 1 (got {self.qat_epochs})"),
            (self.qat_lr is None or self.qat_lr > 0, f"QAT learning rate must be > 0 (got {self.qat_lr})"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        object.__setattr__(self, "optimizer", Optimizer(self.optimizer))
        object.__setattr__(self, "hints", tuple(h if isinstance(h, HintPair) else HintPair.parse(h)
                                                for h in self.hints))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["optimizer"] = self.optimizer.value
        data["hints"] = [f"{h.student}:{h.teacher}" for h in self.hints]
        data["augment"] = list(self.augment)
        return data

    def qat_phase(self) -> DistillConfig:
        """The settings of the QAT fine-tune: same loss, optimizer and schedule shape; its own epochs and
        learning rate; logits only (hint layers name modules, which an exported graph does not have); no wall-clock
        budget (--max-minutes bounds the FP32 distillation, the QAT phase is its few --qat-epochs)."""
        return replace(self, epochs=self.qat_epochs, steps=None, lr=self.qat_lr or self.lr / 10, hints=(),
                       max_minutes=None, qat=False)

    def result_fields(self) -> dict[str, Any]:
        """The settings that determine the trained weights (what a resumed checkpoint must match)."""
        return {k: v for k, v in self.to_dict().items() if k not in NON_RESULT_FIELDS}
