"""Where streamed frames come from: a packaged data set, a folder of images, or a camera. Every
source yields the model's int8 input by the rule of :mod:`kilotrain.data.images` (resized, converted
and quantised on the host), with a label when it has one.

* :func:`folder` — ``DIR/<class>/*.png|jpg|jpeg|bmp``, one sub-folder per class. Labels follow
  the model's class names when every sub-folder is one of them, else the sub-folders' sorted order.
  A seeded, stratified split keeps a quarter of each class for held-out evaluation.
* :class:`Camera` — OpenCV (the ``camera`` extra) frames from device N, labelled by a fixed label
  or by the last digit typed on the terminal.

Bad input raises :class:`SourceError` in one line naming the path and what was expected.
"""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kilotrain.data.datasets import Dataset, split_indices
from kilotrain.data.images import InputError, load_input
from kilotrain.extras import require
from kilotrain.model.ir import Tensor

#: Image files a folder source reads (by suffix, case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class SourceError(ValueError):
    """A frame source cannot be read; the message names it and what was expected."""


@dataclass(frozen=True)
class LabelledFiles:
    """The images of a folder source: paths, labels and the class names by label."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    class_names: tuple[str, ...]


def scan_folder(root: Path, class_names: Sequence[str] = ()) -> LabelledFiles:
    """The labelled image files under ``root`` (one sub-folder per class). ``class_names``: the
    model's, by label; when every sub-folder is one of them the labels follow them."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"--folder {root}: not a directory; expected one sub-folder of images per class")
    subs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not subs:
        raise SourceError(
            f"--folder {root}: no class sub-folders; expected {root}/<class>/<image> "
            f"({', '.join(IMAGE_SUFFIXES)}), one sub-folder per class"
        )
    names = [p.name for p in subs]
    if class_names and all(n in class_names for n in names):
        label_of = {n: list(class_names).index(n) for n in names}
        all_names = tuple(class_names)
    else:
        label_of = {n: i for i, n in enumerate(names)}
        all_names = tuple(names)
    paths: list[Path] = []
    labels: list[int] = []
    for sub in subs:
        files = sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            kinds = "/".join(IMAGE_SUFFIXES)
            raise SourceError(f"--folder {root}: class sub-folder {sub.name}/ holds no {kinds} image")
        paths += files
        labels += [label_of[sub.name]] * len(files)
    return LabelledFiles(tuple(paths), tuple(labels), all_names)


def folder(
    root: Path, t: Tensor, class_names: Sequence[str] = (), seed: int = 0, test_fraction: float = 0.25
) -> Dataset:
    """A folder of images as a split :class:`Dataset` of the model's int8 inputs (``seed``: the
    split and order, as :func:`kilotrain.data.datasets.load`)."""
    files = scan_folder(root, class_names)
    x = np.empty((len(files.paths), *t.shape[1:]), np.int8)
    for i, p in enumerate(files.paths):
        try:
            x[i] = load_input(p, t).reshape(t.shape[1:])
        except InputError as e:
            raise SourceError(f"--folder {root}: {e}") from None
    y = np.asarray(files.labels, np.int64)
    if len(y) < 2:
        raise SourceError(f"--folder {root}: {len(y)} image; at least 2 are needed (some to train, some to evaluate)")
    tr, te = split_indices(y, test_fraction, seed)
    return Dataset(str(root), x[tr], y[tr], x[te], y[te], len(files.class_names), files.class_names)


class Camera:
    """Frames of camera ``index`` (OpenCV), each converted to the model's input. The label of a
    frame is ``label`` when given, else the last digit typed on the terminal (none yet: -1)."""

    def __init__(self, index: int, t: Tensor, label: int | None = None) -> None:
        cv2 = require("cv2", "camera", "--camera")
        self._cv2, self.t, self.label = cv2, t, label
        self.cap = cv2.VideoCapture(index)
        if not self.cap.isOpened():
            raise SourceError(f"--camera {index}: OpenCV cannot open camera {index}")
        self.index = index

    def _typed_label(self) -> int | None:
        """The last digit typed on the terminal since the previous frame (non-blocking)."""
        if not sys.stdin.isatty():
            return None
        got = None
        while select.select([sys.stdin], [], [], 0)[0]:
            ch = os.read(sys.stdin.fileno(), 1).decode(errors="ignore")
            if not ch:
                break
            if ch.isdigit():
                got = int(ch)
        return got

    def frames(self, n: int) -> Iterator[tuple[npt.NDArray[np.int8], int]]:
        """``n`` frames and their labels."""
        current = self.label if self.label is not None else -1
        for _ in range(n):
            ok, bgr = self.cap.read()
            if not ok:
                raise SourceError(f"--camera {self.index}: the camera returned no frame")
            typed = None if self.label is not None else self._typed_label()
            current = typed if typed is not None else current
            rgb = np.ascontiguousarray(bgr[:, :, ::-1])
            yield load_input(rgb, self.t).reshape(self.t.shape[1:]), current

    def close(self) -> None:
        self.cap.release()
