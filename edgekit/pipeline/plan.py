"""The one plan builder: the stage chain of a run, checked before any work.

A plan is a list of steps; each step names the step whose artifact it consumes, so variants
that share a prefix (FP32 and INT8 both start from the one exported ONNX) share its work.
``execute.run_plan`` runs it into stage dirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from edgekit.artifact import Format
from edgekit.backends import BACKENDS, backend_spec
from edgekit.errors import BackendUnavailableError, OptionError, PipelineError
from edgekit.stages.base import Stage
from edgekit.distill.config import DistillConfig
from edgekit.pruning.config import PruneConfig
from edgekit.stages.compile import CompileStage
from edgekit.stages.distill import DistillStage
from edgekit.stages.export import ExportConfig, ExportStage, ImportOnnxStage
from edgekit.stages.prune import GRAPH_ONLY_KINDS, PruneStage
from edgekit.stages.quantize import QuantizeStage

INPUT = "input"


@dataclass(frozen=True)
class Step:
    id: str
    stage: Stage
    source: str  # id of the step (or INPUT) whose artifact this one consumes


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    variants: dict[str, str]  # variant name -> id of the step that produces its artifact
    precisions: dict[str, str] = field(default_factory=dict)  # variant name -> precision (default: the name)

    def precision(self, variant: str) -> str:
        return self.precisions.get(variant, variant)

    def chain(self, variant: str) -> list[Step]:
        """The steps that produce ``variant``'s artifact, from the input on (what a sweep trial runs and caches)."""
        by_id = {s.id: s for s in self.steps}
        chain, step_id = [], self.variants[variant]
        while step_id != INPUT:
            chain.append(by_id[step_id])
            step_id = chain[-1].source
        return chain[::-1]


def _variant_steps(base: str, suffix: str, precisions: tuple[str, ...], backend_name: str,
                   native: Format = Format.ONNX) -> tuple[list[Step], dict[str, str], dict[str, str]]:
    """FP32 is the exported model itself; INT8 adds a quantize step. OpenVINO compiles to IR first and
    quantizes the IR; TensorRT (when the host can build engines) quantizes the ONNX, then compiles each
    precision to an engine (FP16 is a build setting there, so its ONNX is the FP32 one)."""
    steps, variants, kinds = [], {}, {}
    compile_first = native is Format.OPENVINO_IR
    if compile_first:
        compiled = f"compile-{suffix.rstrip('-')}" if suffix else "compile"
        steps.append(Step(compiled, CompileStage(native), base))
        base = compiled
    for precision in precisions:
        name = f"{suffix}{precision}"
        if precision not in backend_spec(backend_name).precisions:
            raise PipelineError(f"Precision '{precision}' is not available on the {backend_name} backend.",
                                "Remove it from [compile] precisions in the profile.")
        source = base
        if precision == "int8":
            steps.append(Step(f"quantize-{name}", QuantizeStage("int8", native if compile_first else Format.ONNX),
                              base))
            source = f"quantize-{name}"
        if native is Format.TENSORRT_PLAN:
            steps.append(Step(f"compile-{name}", CompileStage(native, precision), source))
            source = f"compile-{name}"
        variants[name] = source
        kinds[name] = precision
    return steps, variants, kinds


def check_requests(kind: str, prune: PruneConfig | None, distill: DistillConfig | None, student: Any) -> None:
    """Before anything is loaded: what was asked (pruning, distillation, a student) can be done on this kind of
    model (a ModelKind value). Option errors (exit 2); build_plan checks the same again."""
    if prune is not None and kind in GRAPH_ONLY_KINDS:
        what = {"exported_program": "torch.export .pt2", "torchscript": "TorchScript file"}[kind]
        raise OptionError(f"Pruning removes channels from the model's layers, and a {what} is a traced graph "
                          "without them.", "Pass 'package.module:factory' with --weights (or an "
                          "nn.Module from Python) to prune, or drop --prune.")
    _check_student(Format.ONNX if kind == "onnx" else Format.TORCH, prune, distill, student)


def _check_student(input_format: Format, prune: PruneConfig | None, distill: DistillConfig | None,
                   student: Any) -> None:
    if prune is not None and input_format is not Format.TORCH:
        raise OptionError("Pruning needs a torch model: an ONNX file has no module structure to remove channels from.",
                          "Pass the torch model ('package.module:factory' with --weights), or drop --prune.")
    if distill is not None and input_format is not Format.TORCH:
        raise OptionError("Distillation needs a torch teacher: an ONNX file cannot be run as a trainable teacher.",
                            "Pass the torch model ('package.module:factory' with --weights or a .pt2), or drop --distill.")
    if student is not None and distill is None:
        raise OptionError("A student architecture is only used by distillation.", "Add --distill, or drop --student.")
    if student is not None and prune is not None:
        raise OptionError("--student and --prune both define the student: pick one.",
                            "Prune the original (--prune) or distill into your own architecture (--student).")
    if distill is not None and distill.qat and prune is None and student is None:
        if distill.hints:
            raise OptionError("Hint layers pair a student's layers with the teacher's, and with --qat alone there is "
                                "no student: the original model itself is fine-tuned in INT8 (logits only).",
                                "Drop --hint, or add --prune / --student.")
    elif distill is not None and prune is None and student is None:
        raise OptionError("Distillation needs a student: nothing smaller than the original was asked for.",
                            "Add --prune RATIO (distil the pruned model) or --student package.module:factory, "
                            "or --qat (quantization-aware fine-tuning of the original in INT8).")


def _student_steps(export: ExportConfig, prune: PruneConfig | None, distill: DistillConfig | None,
                   student: Any, student_source: str | None) -> tuple[list[Step], str, str]:
    """prune [-> distill] -> export-pruned, or distill(student) -> export-student: (steps, last id, prefix)."""
    if prune is not None:
        steps = [Step("prune", PruneStage(prune, export.input_shape), INPUT)]
        if distill is not None:
            steps.append(Step("distill", DistillStage(distill, export.input_shape), "prune"))
        return steps + [Step("export-pruned", ExportStage(export), steps[-1].id)], "export-pruned", "pruned-"
    stage = DistillStage(distill, export.input_shape, student=student, student_source=student_source)
    return [Step("distill", stage, INPUT), Step("export-student", ExportStage(export), "distill")], \
        "export-student", "student-"


def _qat_steps(distill: DistillConfig, export: ExportConfig, source: str, prefix: str, precisions: tuple[str, ...],
               native: Format, backend_name: str = "") -> tuple[list[Step], dict[str, str]]:
    """The QAT variant beside the PTQ one: its QDQ ONNX is never re-quantized, only compiled (OpenVINO)."""
    import importlib.util

    from edgekit.stages.qat import QatStage

    if importlib.util.find_spec("torchao") is None:
        raise BackendUnavailableError("Quantization-aware distillation (--qat) needs torchao (PT2E fake quantization), "
                                      "which is not installed.", "pip install 'edgekit[qat]' (or torchao), or drop --qat.")
    spec = backend_spec(backend_name)
    if not spec.qat:
        able = ", ".join(name for name, s in BACKENDS.items() if s.qat)
        raise PipelineError(f"--qat is not available for {spec.runtime_name} profiles yet: its QDQ export (torch.export "
                            f"+ dynamo ONNX) has not been validated against {spec.runtime_name}.",
                            f"Drop --qat (the {spec.runtime_name} INT8 PTQ variant is still built), or use a profile "
                            f"of a backend that takes it ({able}).")
    if "int8" not in precisions:
        raise PipelineError(f"--qat fine-tunes the INT8 variant, but the profile builds only {', '.join(precisions)}.",
                            "Add \"int8\" to [compile] precisions in the profile, or drop --qat.")
    steps = [Step("qat", QatStage(distill, export.input_shape), source)]
    if native is not Format.ONNX:
        steps.append(Step("compile-qat", CompileStage(native), "qat"))
    return steps, {f"{prefix}int8-qat": steps[-1].id}


def build_plan(input_format: Format, precisions: tuple[str, ...], backend_name: str,
               export: ExportConfig | None, *, prune: PruneConfig | None = None,
               native: Format = Format.ONNX, distill: DistillConfig | None = None, student: Any = None,
               student_source: str | None = None) -> Plan:
    """Variants: each precision of the model as given, and with ``prune`` each precision of the pruned one
    (distilled from the original with ``distill``), or with ``student`` each precision of that distilled student."""
    steps: list[Step] = []
    _check_student(input_format, prune, distill, student)
    if input_format is Format.TORCH:
        if export is None:
            raise PipelineError("A torch model needs an input shape to be exported.",
                                "Pass --input-shape, or calibration/evaluation data.")
        steps.append(Step("export", ExportStage(export), INPUT))
    else:
        steps.append(Step("import", ImportOnnxStage(), INPUT))
    more, variants, kinds = _variant_steps(steps[0].id, "", precisions, backend_name, native)
    steps += more
    prefix, trained = "", INPUT
    if prune is not None or student is not None:
        small, last, prefix = _student_steps(export, prune, distill, student, student_source)
        more, pruned, pruned_kinds = _variant_steps(last, prefix, precisions, backend_name, native)
        steps += small + more
        variants.update(pruned)
        kinds.update(pruned_kinds)
        trained = small[-1].source  # the torch model the student's export consumes (distilled, or only pruned)
    if distill is not None and distill.qat:
        more, qat = _qat_steps(distill, export, trained, prefix, precisions, native, backend_name)
        steps += more
        variants.update(qat)
        kinds.update({name: "int8" for name in qat})
    plan = Plan(tuple(steps), variants, {k: v for k, v in kinds.items() if k != v})
    check_chain(plan, input_format)
    return plan


def describe_chain(plan: Plan, input_format: Format) -> str:
    parts = [f"input({input_format.value})"]
    parts += [f"{s.id}[{'|'.join(sorted(f.value for f in s.stage.consumes))} -> {s.stage.produces.value}]"
              for s in plan.steps]
    return " -> ".join(parts)


def check_chain(plan: Plan, input_format: Format) -> None:
    """Every step must accept what its source produces: checked before anything runs."""
    produced = {INPUT: input_format}
    for step in plan.steps:
        fmt = produced.get(step.source)
        if fmt is None:
            raise PipelineError(f"Step '{step.id}' consumes unknown step '{step.source}'.",
                                f"Chain: {describe_chain(plan, input_format)}")
        if fmt not in step.stage.consumes:
            raise PipelineError(f"Stage '{step.id}' cannot consume {fmt.value} (it takes "
                                f"{', '.join(sorted(f.value for f in step.stage.consumes))}).",
                                f"Chain: {describe_chain(plan, input_format)}")
        produced[step.id] = step.stage.produces
