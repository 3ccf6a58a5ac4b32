"""Image or .npy file -> the int8 input tensor of a model. The rules:

* ``.npy``: the file holds the int8 tensor itself; it must have the input's shape (a missing
  leading batch dimension of 1 is added) and dtype int8.
* a 1-channel int8 input (e.g. person_detect, [1, 96, 96, 1]): **TFLM's rule** — the image is
  converted to 8-bit grayscale (centre-cropped and resized if its size differs) and each uint8
  byte is *reinterpreted* as int8 (two's complement: 200 -> -56). This is what TFLM's own test
  data does; it gives person.bmp -> [-113, 113].
* a 3-channel input (e.g. mobilenet_v2_imagenet, [1, 3, 224, 224] NCHW or NHWC): the
  **torchvision ImageNet rule** — RGB, centre crop to a square, resize to H x W with PIL's
  Hamming filter, scale to [0, 1], normalise by mean (0.485, 0.456, 0.406) and std
  (0.229, 0.224, 0.225), quantize ``round(x / scale) + zero_point`` (halves away from zero),
  clamp to [-128, 127], lay out as the input tensor (NCHW when its dim 1 is 3).
  The resize filter matters at near-ties of the int8 logits: Hamming reproduces the top-5 the
  dataset README measured for scikit-image's chelsea, coffee and rocket; bilinear swaps two
  near-equal classes on coffee and rocket.

Anything else raises :class:`InputError` (one message naming the expected shape and dtype).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from kilotrain.model.ir import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class InputError(ValueError):
    """An input file or array cannot become the model's input tensor."""


def _expected(t: Tensor) -> str:
    return f"int8 tensor of shape {list(t.shape)}"


def center_crop_resize(img: npt.NDArray[np.uint8], size_hw: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """Centre-crop an HxW or HxWxC uint8 image to the aspect ratio of ``size_hw`` and resize it
    there with PIL's Hamming filter (no-op if already that size)."""
    h, w = img.shape[:2]
    th, tw = size_hw
    if (h, w) == (th, tw):
        return img
    # largest centred window with the target aspect ratio
    if h * tw > w * th:
        ch, cw = (w * th) // tw, w
    else:
        ch, cw = h, (h * tw) // th
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = np.ascontiguousarray(img[top : top + ch, left : left + cw])
    return np.asarray(Image.fromarray(crop).resize((tw, th), Image.Resampling.HAMMING))


def _layout(t: Tensor) -> tuple[str, int, int, int]:
    """('NHWC' | 'NCHW', H, W, C) of a 4-D image input tensor."""
    if len(t.shape) != 4 or t.shape[0] != 1:
        raise InputError(f"model input {list(t.shape)} is not a single 4-D image; give a .npy {_expected(t)}")
    _, a, b, c = t.shape
    if c in (1, 3):
        return "NHWC", a, b, c
    if a in (1, 3):
        return "NCHW", b, c, a
    raise InputError(f"model input {list(t.shape)} has no 1- or 3-channel axis; give a .npy {_expected(t)}")


def grayscale_bytes_as_int8(img: npt.NDArray[np.uint8], t: Tensor) -> npt.NDArray[np.int8]:
    """TFLM's rule for 1-channel int8 models: uint8 grayscale bytes reinterpreted as int8."""
    _, h, w, _ = _layout(t)
    g = np.asarray(img)
    if g.ndim == 3:
        g = np.asarray(Image.fromarray(np.ascontiguousarray(g)).convert("L"))
    if g.dtype != np.uint8:
        raise InputError(f"grayscale image must be uint8; got {g.dtype}")
    g = center_crop_resize(g, (h, w))
    return np.ascontiguousarray(g).view(np.int8).reshape(t.shape)


def imagenet_float(img: npt.NDArray[np.uint8], size_hw: tuple[int, int]) -> npt.NDArray[np.float64]:
    """The float side of the torchvision ImageNet rule: an RGB (or grayscale, repeated) uint8
    image centre-cropped and resized to ``size_hw``, scaled to [0, 1] and normalised, H x W x 3.
    What a float model trained for a 3-channel kilotrain input sees (docs/custom-models.md)."""
    a = np.asarray(img)
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype != np.uint8:
        raise InputError(f"RGB image must be uint8 HxWx3; got {a.dtype} {list(a.shape)}")
    a = center_crop_resize(np.ascontiguousarray(a[:, :, :3]), size_hw)
    x = a.astype(np.float64) / 255.0
    return (x - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)


def quantize(x: npt.ArrayLike, t: Tensor) -> npt.NDArray[np.int8]:
    """Real values to ``t``'s int8: ``round(x / scale) + zero_point`` (halves away from zero),
    clamped to [-128, 127]; the shape is kept."""
    v = np.asarray(x, np.float64) / t.s
    return np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + t.zp, -128, 127).astype(np.int8)


def imagenet_normalized(img: npt.NDArray[np.uint8], t: Tensor) -> npt.NDArray[np.int8]:
    """The torchvision ImageNet rule (see module docstring) for a 3-channel int8 input."""
    layout, h, w, c = _layout(t)
    if c != 3:
        raise InputError(f"ImageNet normalisation needs a 3-channel input; model input is {list(t.shape)}")
    q = quantize(imagenet_float(img, (h, w)), t)
    if layout == "NCHW":
        q = q.transpose(2, 0, 1)
    return np.ascontiguousarray(q).reshape(t.shape)


def from_npy(arr: np.ndarray, t: Tensor) -> npt.NDArray[np.int8]:
    """An int8 array of the input's shape (a missing batch dim of 1 is added)."""
    if arr.dtype != np.int8:
        raise InputError(f"expected an {_expected(t)}; got {arr.dtype} {list(arr.shape)}")
    if arr.shape == t.shape:
        return arr
    if t.shape and t.shape[0] == 1 and arr.shape == t.shape[1:]:
        return arr.reshape(t.shape)
    raise InputError(f"expected an {_expected(t)}; got {arr.dtype} {list(arr.shape)}")


def load_input(source: str | Path | np.ndarray, t: Tensor, rule: str = "auto") -> npt.NDArray[np.int8]:
    """The int8 model input for ``t`` from an image file, a .npy file or a uint8 image array.

    ``rule``: ``"auto"`` (by channel count, see module docstring), ``"grayscale_bytes"``,
    ``"imagenet"`` or ``"npy"``.
    """
    if t.dtype != "int8":
        raise InputError(f"model input has dtype {t.dtype}; supported: int8")
    if isinstance(source, np.ndarray):
        img = source
        if rule == "npy" or (rule == "auto" and img.dtype == np.int8):
            return from_npy(img, t)
    else:
        path = Path(source)
        if path.suffix.lower() == ".npy" or rule == "npy":
            try:
                arr = np.load(path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise InputError(f"cannot read {path} as .npy: {e}") from None
            return from_npy(arr, t)
        try:
            with Image.open(path) as im:
                im.load()
                img = np.asarray(im.convert("L") if im.mode in ("L", "P", "1", "I;16") else im.convert("RGB"))
        except OSError as e:
            raise InputError(f"cannot read image {path}: {e}") from None
    _, _, _, c = _layout(t)
    if rule == "auto":
        rule = "grayscale_bytes" if c == 1 else "imagenet"
    if rule == "grayscale_bytes":
        return grayscale_bytes_as_int8(img, t)
    if rule == "imagenet":
        return imagenet_normalized(img, t)
    raise InputError(f"unknown input rule {rule!r}; use auto, grayscale_bytes, imagenet or npy")
