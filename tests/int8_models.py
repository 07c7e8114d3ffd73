"""Small real models that INT8 breaks on purpose, for the accuracy-aware search tests (any backend)."""

from __future__ import annotations


def dead_channel_outlier(digits_model):
    """The trained digits CNN with conv1's channel 0 switched off (its BatchNorm outputs -1, ReLU makes it 0) and
    conv2 reading that dead channel through weights of 1000: still an accurate model in FP32, but each of conv2's
    per-channel INT8 weight scales is set by the dead weight and its real weights round to zero. Dead channels
    with large stale weights happen in real trained networks; no recipe or calibration method fixes this,
    keeping conv2 in float does."""
    import copy

    import torch

    model = copy.deepcopy(digits_model).eval()
    with torch.no_grad():
        model.bn1.weight[0], model.bn1.bias[0] = 0.0, -1.0
        model.conv2.weight[:, 0] = 1000.0
    return model
