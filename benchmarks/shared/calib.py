"""Calibration images: real photos bundled with scikit-image, no network needed.

Random-resized crops (as in ImageNet training augmentation) of the bundled photos,
224x224, ImageNet mean/std normalised, NCHW float32, saved as ``.npz`` with key ``x``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

# Only real photographs that ship inside the scikit-image wheel (no pooch download).
# Grayscale ones are replicated to three channels.
PHOTOS = (
    "astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry",
    "retina", "stereo_motorcycle", "camera", "coins", "moon", "clock", "brick", "grass", "gravel",
)
MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def _load_photos() -> list[np.ndarray]:
    import skimage.data

    photos = []
    for name in PHOTOS:
        img = getattr(skimage.data, name)()
        # stereo_motorcycle is (left, right, disparity): keep the two photographs.
        for im in img[:2] if isinstance(img, tuple) else (img,):
            im = np.asarray(im, dtype=np.float32) / 255.0
            photos.append(np.repeat(im[..., None], 3, axis=2) if im.ndim == 2 else im[..., :3])
    return photos


def _random_resized_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    from skimage.transform import resize

    h, w = img.shape[:2]
    area = h * w * rng.uniform(0.25, 1.0)
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    ch = int(min(h, round(np.sqrt(area / aspect))))
    cw = int(min(w, round(np.sqrt(area * aspect))))
    top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = img[top : top + ch, left : left + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return resize(crop, (size, size), order=1, anti_aliasing=True).astype(np.float32)


def make_calibration_set(n: int = 48, size: int = 224, seed: int = 0) -> np.ndarray:
    """Return ``(n, 3, size, size)`` float32, cycling through the photos."""
    rng = np.random.default_rng(seed)
    photos = _load_photos()
    crops = [_random_resized_crop(photos[i % len(photos)], size, rng) for i in range(n)]
    x = (np.stack(crops) - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)


def write_calibration_npz(path: Path, n: int = 48, seed: int = 0) -> Path:
    x = make_calibration_set(n=n, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x)
    log.info("calibration set: %d photos crops %s -> %s", n, x.shape, path)
    return path
