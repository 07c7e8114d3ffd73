"""Quantization-aware distillation (``--qat``): a fake-quantized INT8 student trained against the FP32 teacher.

quantizer.py (which tensors get fake-quantized, torchao PT2E), model.py (prepare, calibrate, export
QDQ ONNX), report.py (PTQ vs QAT in the report). The training loop is edgekit.distill.train; the
stage is edgekit.stages.qat. Only report.py is light: the others import torch and torchao.
"""
