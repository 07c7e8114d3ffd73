"""The QAT summary's budget suggestion names the option that sets the QAT phase's budget, --qat-epochs (the
distillation loop it runs phrases it as --epochs, the FP32 distillation's budget)."""

from __future__ import annotations

from types import SimpleNamespace

from edgekit.qat.report import qat_report


def _report(suggestion):
    summary = {"suggestion": suggestion, "still_improving": suggestion is not None, "stop_reason": "epochs"}
    plan = SimpleNamespace(variants={"fp32": "export", "int8": "quantize-int8", "int8-qat": "qat"})
    inputs = type("Inputs", (), {"source": "calib.npz", "y": None, "__len__": lambda self: 8})()
    reference = SimpleNamespace(accuracy=None, inputs=inputs)
    return qat_report(summary, [], plan, "stages/04-qat", reference)


def test_the_suggested_budget_is_the_qat_option() -> None:
    report = _report({"epochs": 7, "basis": "the validation loss fell for 3 epochs", "option": "--epochs 7"})
    assert report["suggestion"] == {"epochs": 7, "basis": "the validation loss fell for 3 epochs",
                                    "option": "--qat-epochs 7"}


def test_no_suggestion_stays_none() -> None:
    assert _report(None)["suggestion"] is None
