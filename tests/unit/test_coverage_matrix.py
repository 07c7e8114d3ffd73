"""The coverage matrix of `python -m benchmarks coverage` (README and RESULTS.md): one row per family, a short verdict
per column, every cell that did not pass in full below, and pass counts over every family (a family whose pruning was
refused does not count as pruned + INT8)."""

from __future__ import annotations

import argparse

from benchmarks.coverage.run import Outcome, matrix

ARGS = argparse.Namespace(ratio=0.3, backends=["onnxruntime", "openvino"])
ALL_PASS = {"export": "pass", "int8": "pass", "pruned-int8": "pass", "distill": "pass (2 epochs, 4 steps)"}


def test_rows_notes_and_counts() -> None:
    refused = "Cannot prune structurally: layer m.modulation: its forward splits the input projection."
    outcomes = [
        Outcome("resnet", "pass", "", 0.5, 0.6, "", {"onnxruntime": ALL_PASS, "openvino": ALL_PASS}),
        Outcome("focalnet", "refused", refused, compressed={
            "onnxruntime": {"export": "pass", "int8": "pass", "pruned-int8": ""},
            "openvino": {"export": "pass", "int8": "rejected: 3 of 9 compute layers run INT8", "pruned-int8": ""}}),
        Outcome("swin", "pass", "", 0.7, 0.7, "2->1", {
            "onnxruntime": {**ALL_PASS, "distill": "crash: RuntimeError: boom"},
            "openvino": {**ALL_PASS, "export": "refused: Compiling for openvino failed"}}),
    ]
    lines = matrix(outcomes, ARGS)
    assert lines[0] == ("| family | export | INT8 onnxruntime | INT8 openvino | structured pruning 0.3 | "
                        "prune + INT8 onnxruntime | prune + INT8 openvino | distillation | MACs left | params left | "
                        "heads |")
    assert lines[2] == "| resnet | pass | pass | pass | pass | pass | pass | pass | 0.50 | 0.60 |  |"
    assert lines[3] == "| focalnet | pass | pass | rejected | refused | refused | refused | refused |  |  |  |"
    assert lines[4] == "| swin | refused | pass | pass | pass | pass | pass | **crash** | 0.70 | 0.70 | 2->1 |"
    counts = next(line for line in lines if line.startswith("Passed per column"))
    assert "prune + INT8 openvino 2/3" in counts and "distillation 1/3" in counts and "export 2/3" in counts
    notes = lines[lines.index("Every cell that did not pass:") + 2:]
    assert notes == ["- focalnet, INT8 openvino: rejected: 3 of 9 compute layers run INT8",
                     f"- focalnet, structured pruning 0.3: refused: {refused}",
                     "- swin, export: refused: Compiling for openvino failed [openvino]",
                     "- swin, distillation: crash: RuntimeError: boom"]
