"""Real inputs for the lessons, taken from files that installed packages ship (no downloads)."""

from __future__ import annotations

import matplotlib.cbook
import matplotlib.image
import torch
import torch.nn.functional as F

from . import _checks
from .i18n import localize, register_messages

register_messages({
    "bad_photo_size": {
        "en": "size={value!r} must be an int from 8 to 512, the side of the square photo in pixels.",
        "zh-TW": "size={value!r} 必須是 8 到 512 之間的整數，也就是正方形照片的邊長（像素）。",
    },
})


def sample_photo(size: int = 128) -> torch.Tensor:
    """Return matplotlib's sample photograph of Grace Hopper as a standardized grayscale image.

    Taught in "The padding trap in integer convolution". The photo (``grace_hopper.jpg``, 600 × 512
    RGB, shipped with matplotlib) is converted to luminance in [0, 1], cropped to a square,
    averaged down to ``size`` × ``size`` pixels, then standardized to mean 0 and standard
    deviation 1, as image models normalize their input. Standardized pixels are both negative and
    positive, so their uint8 quantization has a zero point far from 0.

    Returns:
        float32 tensor of shape (1, 1, size, size).
    """
    size = _checks.require_int("size", size)
    if not 8 <= size <= 512:
        raise ValueError(localize("bad_photo_size", value=size))
    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    rgb = torch.from_numpy(matplotlib.image.imread(path).copy()).to(torch.float32) / 255.0
    luminance = rgb @ torch.tensor([0.299, 0.587, 0.114])  # ITU-R BT.601 weights
    side = min(luminance.shape)
    top = (luminance.shape[0] - side) // 2
    square = luminance[top:top + side, :side].reshape(1, 1, side, side)
    small = F.adaptive_avg_pool2d(square, size)
    return (small - small.mean()) / small.std()
