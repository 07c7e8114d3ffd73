"""The built-in demo: a small CNN trained on scikit-learn's digits (real labelled 8x8 images,
shipped with scikit-learn, no download), cached under the user cache dir.

The training is deterministic for a given seed; the cache key includes the seed, the torch
version and DEMO_REVISION so a changed recipe never reuses stale weights.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

DEMO_REVISION = 1
EPOCHS = 15


def digits_cnn() -> Any:
    """The demo architecture (a factory usable as 'edgekit.demo:digits_cnn')."""
    from edgekit.zoo import digits_cnn as factory

    return factory()


@dataclass(frozen=True)
class DemoAssets:
    weights: Path
    calib: Path
    eval: Path
    train: Path
    test_accuracy: float
    cached: bool


def digits_splits(seed: int = 0, size: int = 8) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Stratified train (70%) / held-out test (30%) split of the 1797 digits, scaled to [0, 1]; ``size`` > 8
    upsamples them bilinearly (e.g. 16 for ``edgekit.zoo:digits_gated_cnn``)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    if size != 8:
        import torch
        import torch.nn.functional as F

        x = F.interpolate(torch.from_numpy(x), size=(size, size), mode="bilinear", align_corners=False).numpy()
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    return {"train": (x_tr, y_tr), "test": (x_te, y_te)}


def train_digits_cnn(x: np.ndarray, y: np.ndarray, seed: int = 0, epochs: int = EPOCHS, factory: Any = None,
                     progress: Any = None) -> Any:
    """Train ``factory()`` (default: the demo's digits CNN) on (x, y) with Adam, deterministically for ``seed``.
    ``progress``: an epoch bar on stderr (default), False for none, or an edgekit.progress.Progress."""
    import torch

    from edgekit.progress import progress_for

    torch.manual_seed(seed)
    # one thread: for a model this small, 2 threads on a busy 2-core box ran 45x slower (measured)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with progress_for(progress) as bar:
            bar.start("train", f"training the digits CNN ({len(x)} images)", epochs)
            model = _train(x, y, seed, epochs, factory or digits_cnn, lambda done: bar.update("train", done))
            bar.finish("train")
            return model
    finally:
        torch.set_num_threads(previous)


def _train(x: np.ndarray, y: np.ndarray, seed: int, epochs: int, factory: Any, on_epoch: Any) -> Any:
    import torch
    import torch.nn.functional as F

    model = factory()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(xt), generator=generator)
        for start in range(0, len(xt), 64):
            idx = order[start:start + 64]
            optimizer.zero_grad()
            F.cross_entropy(model(xt[idx]), yt[idx]).backward()
            optimizer.step()
        on_epoch(epoch + 1)
    return model.eval()


def cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(os.environ.get("EDGEKIT_CACHE_DIR") or user_cache_dir("edgekit")) / "demo"


def prepare_demo(seed: int = 0, root: Path | None = None, progress: Any = None) -> DemoAssets:
    """Train (or reuse from the cache) the digits CNN and write its data files (``progress`` as for
    train_digits_cnn)."""
    import torch

    base = (root or cache_dir()) / f"digits-r{DEMO_REVISION}-seed{seed}-torch{torch.__version__.split('+')[0]}"
    meta_path = base / "meta.json"
    paths = {k: base / f"{k}.npz" for k in ("train", "calib", "eval")}
    weights = base / "digits_cnn.pt"
    if meta_path.exists() and weights.exists() and all(p.exists() for p in paths.values()):
        meta = json.loads(meta_path.read_text())
        return DemoAssets(weights, paths["calib"], paths["eval"], paths["train"], meta["test_accuracy"], True)
    splits = digits_splits(seed)
    x_tr, y_tr = splits["train"]
    x_te, y_te = splits["test"]
    model = train_digits_cnn(x_tr, y_tr, seed, progress=progress)
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean() * 100)
    tmp = base.with_name(base.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), tmp / weights.name)
    np.savez(tmp / "train.npz", x=x_tr, y=y_tr)
    np.savez(tmp / "calib.npz", x=x_tr[:256], y=y_tr[:256])
    np.savez(tmp / "eval.npz", x=x_te, y=y_te)
    (tmp / "meta.json").write_text(json.dumps({"test_accuracy": accuracy, "seed": seed, "epochs": EPOCHS}))
    if base.exists():
        import shutil

        shutil.rmtree(base)
    tmp.rename(base)
    log.info("trained the digits CNN: %.2f%% held-out accuracy", accuracy)
    return DemoAssets(weights, paths["calib"], paths["eval"], paths["train"], accuracy, False)
