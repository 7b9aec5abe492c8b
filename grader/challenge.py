"""The integrity check's copy of q2's graded images, made on the host for one attempt.

MNIST is public, so a models.py can carry the test labels and look each mounted test image up. Besides the
graded images, the trained model also predicts this copy: the same images re-ordered, moved by a fraction of a
pixel, dimmed and with noise on their ink, drawn from a secret the sandbox never sees (the host keeps the
`CopyKey`). A model that learned digits scores on the copy about as on the originals; a lookup finds nothing
it knows there and falls back to whatever it has. docs/INTEGRITY.md has the measurements behind the numbers.

Host side only (the sandbox receives the images, never the key). Standard library and numpy.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

IMAGE_SIDE = 28
COPY_FILE = "copy.npy"
# Chosen from docs/INTEGRITY.md: large enough that lookups keyed on an image's bytes, a coarse hash of it or a
# few of its pixels miss, small enough that no genuine model measured lost more than 1.2 points on the copy.
MAX_SHIFT_PX = 0.3  # each image moves by up to this much along each axis (bilinear)
MIN_GAIN = 0.7  # each image's ink is scaled by a factor drawn from [MIN_GAIN, 1]
INK_NOISE = 0.1  # each ink pixel is multiplied by 1 + N(0, INK_NOISE); background pixels stay 0
SECRET_BITS = 128


class CopyError(Exception):
    """The copy cannot be made (the graded images are unreadable, or the directory unwritable): ours."""


@dataclass(frozen=True)
class CopyKey:
    """What the host keeps: the secret the copy was drawn from, and how it was drawn.

    Row i of the copy is graded image `order()[i]`, moved, dimmed and noisy.
    """

    secret: int
    images: int
    max_shift_px: float = MAX_SHIFT_PX
    min_gain: float = MIN_GAIN
    ink_noise: float = INK_NOISE

    def order(self) -> npt.NDArray[np.intp]:
        """For each row of the copy, the index of the graded image it came from (a permutation)."""
        return _generator(self.secret, 0).permutation(self.images)

    def describe(self) -> dict[str, Any]:
        """The copy's parameters as staff see them, the secret included (useless once the attempt is over)."""
        return {"secret": f"{self.secret:032x}", "images": self.images, "max_shift_px": self.max_shift_px,
                "min_gain": self.min_gain, "ink_noise": self.ink_noise}


def new_key(images: int) -> CopyKey:
    """A fresh key from the operating system's randomness: nothing a submission can predict."""
    return CopyKey(secret=secrets.randbits(SECRET_BITS), images=images)


def make_copy(images: npt.NDArray[np.floating[Any]], key: CopyKey) -> npt.NDArray[np.float64]:
    """The copy of `images` (N x 784 floats in [0, 1]) that `key` describes, as N x 784 float64 in [0, 1]."""
    if images.ndim != 2 or images.shape != (key.images, IMAGE_SIDE * IMAGE_SIDE):
        raise CopyError(f"expected {key.images} images of {IMAGE_SIDE * IMAGE_SIDE} pixels, got {images.shape}")
    rng = _generator(key.secret, 1)
    count = key.images
    square = np.asarray(images, dtype=np.float64)[key.order()].reshape(count, IMAGE_SIDE, IMAGE_SIDE)
    moved = _shift(square, rng.uniform(-key.max_shift_px, key.max_shift_px, (2, count)))
    ink = moved > 0
    gain = rng.uniform(key.min_gain, 1.0, (count, 1, 1))
    noise = 1.0 + rng.normal(0.0, key.ink_noise, moved.shape)
    copy = np.where(ink, moved * gain * noise, 0.0)
    np.clip(copy, 0.0, 1.0, out=copy)
    return copy.reshape(count, IMAGE_SIDE * IMAGE_SIDE)


def write_new_copy(images_path: Path, directory: Path) -> tuple[CopyKey, Path]:
    """A fresh key, and its copy of the .npy images at `images_path` saved in `directory` (see `write_copy`)."""
    try:
        count = np.load(images_path, mmap_mode="r", allow_pickle=False).shape[0]
    except (OSError, ValueError, IndexError) as exc:
        raise CopyError(f"cannot make the integrity check's copy of {images_path}: {exc}") from exc
    key = new_key(count)
    return key, write_copy(images_path, directory, key)


def write_copy(images_path: Path, directory: Path, key: CopyKey) -> Path:
    """Make the copy of the .npy images at `images_path` and save it as `directory`/copy.npy, readable by all.

    Raises CopyError when the images cannot be read or the file cannot be written.
    """
    try:
        images = np.load(images_path, mmap_mode="r", allow_pickle=False)
        copy = make_copy(images, key)
        path = Path(directory) / COPY_FILE
        np.save(path, copy, allow_pickle=False)
        # The sandbox's user reads it through a read-only mount.
        os.chmod(path, 0o644)
    except (OSError, ValueError) as exc:
        raise CopyError(f"cannot make the integrity check's copy of {images_path}: {exc}") from exc
    return path


def load_copy(path: Path, images: int | None = None) -> npt.NDArray[np.float64]:
    """The copy as the sandbox reads it: memory-mapped copy-on-write like the kit's images, as a plain ndarray.

    Raises CopyError when the file is unreadable or not N x 784 float64 (N = `images` when given).
    """
    try:
        array = np.load(path, mmap_mode="c", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CopyError(f"cannot read the integrity check's copy {path}: {exc}") from exc
    pixels = IMAGE_SIDE * IMAGE_SIDE
    if array.dtype != np.float64 or array.ndim != 2 or array.shape[1] != pixels or (
            images is not None and array.shape[0] != images):
        raise CopyError(f"the integrity check's copy {path} holds {array.dtype} {array.shape}, "
                        f"not {images or 'N'} x {pixels} float64")
    view: npt.NDArray[np.float64] = array.view(np.ndarray)
    return view


def _generator(secret: int, stream: int) -> np.random.Generator:
    # Independent streams for the order and the distortions, both from the one secret.
    return np.random.default_rng([stream, secret])


def _shift(square: npt.NDArray[np.float64], offsets: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Move each image by its own (dx, dy), |dx|, |dy| < 1 pixel, with bilinear interpolation; zeros come in."""
    moved = square
    for axis, offset in ((2, offsets[0]), (1, offsets[1])):
        # Along one axis: out[i] = (1 - |d|) * img[i] + |d| * img[i - sign(d)].
        shape = [len(offset), 1, 1]
        forward = np.clip(offset, 0.0, None).reshape(shape)
        backward = np.clip(-offset, 0.0, None).reshape(shape)
        before = np.zeros_like(moved)  # img[i - 1]
        after = np.zeros_like(moved)  # img[i + 1]
        if axis == 2:
            before[:, :, 1:] = moved[:, :, :-1]
            after[:, :, :-1] = moved[:, :, 1:]
        else:
            before[:, 1:, :] = moved[:, :-1, :]
            after[:, :-1, :] = moved[:, 1:, :]
        moved = (1.0 - forward - backward) * moved + forward * before + backward * after
    return moved
