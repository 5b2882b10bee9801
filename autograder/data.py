"""MNIST: find, download, verify and parse the four official IDX files.

The files live in ``autograder.paths.data_root() / "mnist"`` (``$CNN_COURSE_DATA/mnist`` when
set, else ``~/.cache/cnn-course/mnist``) as the original gzip files. A missing file is
downloaded from the first mirror that serves it; every file, downloaded or already present, must
match the published MD5 of its decompressed bytes before it is parsed, so a corrupt file gives
a clear :class:`DataError`, never garbage.

Importing this module does not import torch; only :func:`mnist_tensors` does.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import math
import os
import sys
import tempfile
import urllib.error
import urllib.request
import zlib
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from autograder.i18n import _
from autograder.errors import CourseSetupError
from autograder.paths import DATA_ENV_VAR, data_root

if TYPE_CHECKING:
    import torch

MNIST_MEAN: float = 0.1307
MNIST_STD: float = 0.3081

MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MIRROR_ENV_VAR = "CNN_COURSE_MNIST_MIRROR"

# Published MD5s of the *decompressed* files, so any faithful mirror or local copy passes.
MD5SUMS: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
SPLITS: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGES_MAGIC = 0x00000803
LABELS_MAGIC = 0x00000801
IMAGE_SIZE = 28
_TIMEOUT_S = 60
_CHUNK = 1 << 16


class DataError(CourseSetupError):
    """A data file is missing, corrupt or could not be downloaded (one-line message)."""


def mnist_dir() -> Path:
    """The folder holding the four MNIST ``.gz`` files (it may not exist yet)."""
    return data_root() / "mnist"


def mirrors() -> tuple[str, ...]:
    """Base URLs tried in order: ``$CNN_COURSE_MNIST_MIRROR`` first when set, then :data:`MIRRORS`."""
    extra = os.environ.get(MIRROR_ENV_VAR, "").strip()
    bases = ((extra,) if extra else ()) + tuple(MIRRORS)
    return tuple(base if base.endswith("/") else base + "/" for base in bases)


def load_mnist(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The MNIST images and labels of one split, downloading missing files first.

    Parsed arrays are cached per process and data folder; the arrays returned are read-only
    views of the cache (copy them to modify).

    Args:
        split: ``"train"`` (60000 images) or ``"test"`` (10000 images).

    Returns:
        ``(images, labels)``: uint8 images (N, 28, 28) with values 0-255 and uint8 labels (N,)
        in 0-9.

    Raises:
        ValueError: ``split`` is neither ``"train"`` nor ``"test"``.
        DataError: a file cannot be downloaded, is corrupt or is not a valid IDX file.
    """
    if split not in SPLITS:
        raise ValueError(_("split must be 'train' or 'test', got {split}").format(split=repr(split)))
    images, labels = _load_split(split, str(mnist_dir()))
    return images.view(), labels.view()


def normalize(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images to [0, 1], standardize with the MNIST mean and std, add a channel axis.

    Args:
        images: uint8 array (N, H, W), values 0-255.

    Returns:
        float32 array (N, 1, H, W): ``(images / 255 - MNIST_MEAN) / MNIST_STD``.

    Raises:
        ValueError: ``images`` is not a 3-d array.
    """
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(_("normalize expects images of shape (N, H, W), got shape {shape}").format(shape=images.shape))
    scaled = images.astype(np.float32) / np.float32(255.0)
    return ((scaled - np.float32(MNIST_MEAN)) / np.float32(MNIST_STD))[:, None, :, :]


def mnist_tensors(split: str = "train") -> tuple["torch.Tensor", "torch.Tensor"]:
    """The split as torch tensors, ready for a model.

    Args:
        split: ``"train"`` or ``"test"``.

    Returns:
        ``(x, y)``: float32 normalized images (N, 1, 28, 28) and int64 labels (N,).

    Raises:
        ValueError: unknown split.
        DataError: as :func:`load_mnist`.
    """
    import torch

    images, labels = load_mnist(split)
    return torch.from_numpy(normalize(images)), torch.from_numpy(labels.astype(np.int64))


def parse_idx(raw: bytes, name: str) -> np.ndarray:
    """Parse the decompressed bytes of an MNIST IDX file.

    Args:
        raw: the whole file after decompression: a big-endian header (magic, then one uint32 per
            dimension) followed by uint8 values.
        name: the file's name, used in error messages.

    Returns:
        uint8 array: images (N, 28, 28) for magic 0x00000803, labels (N,) for 0x00000801.

    Raises:
        DataError: the magic number, the dimensions or the payload size is wrong.
    """
    if len(raw) < 8:
        raise DataError(_("{name}: too short to be an IDX file ({size} bytes); delete it to download it again").format(name=name, size=len(raw)))
    magic = int.from_bytes(raw[:4], "big")
    if magic not in (IMAGES_MAGIC, LABELS_MAGIC):
        raise DataError(_("{name}: bad IDX magic number 0x{magic} (expected 0x{images} for images or 0x{labels} for labels); delete it to download it again").format(name=name, magic=f"{magic:08x}", images=f"{IMAGES_MAGIC:08x}", labels=f"{LABELS_MAGIC:08x}"))
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(_("{name}: IDX header cut short; delete it to download it again").format(name=name))
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if ndim == 3 and shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise DataError(_("{name}: images are {height}x{width}, expected {side}x{side}; delete it to download it again").format(name=name, height=shape[1], width=shape[2], side=IMAGE_SIZE))
    expected = math.prod(shape)
    if len(raw) - header != expected:
        raise DataError(_("{name}: payload is {size} bytes but the header {shape} needs {expected}; delete it to download it again").format(name=name, size=len(raw) - header, shape=shape, expected=expected))
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


@lru_cache(maxsize=4)
def _load_split(split: str, directory: str) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = SPLITS[split]
    folder = Path(directory)
    images = _read_idx(images_name, folder)
    labels = _read_idx(labels_name, folder)
    if images.ndim != 3 or labels.ndim != 1:
        raise DataError(_("{images_name}/{labels_name}: images and labels files are swapped or mislabelled; delete them to download them again").format(images_name=images_name, labels_name=labels_name))
    if len(images) != len(labels):
        raise DataError(_("{split} split has {images} images but {labels} labels; delete {folder} to download it again").format(split=split, images=len(images), labels=len(labels), folder=folder))
    if labels.max(initial=0) > 9:
        raise DataError(_("{labels_name}: holds label {label}, expected 0-9; delete it to download it again").format(labels_name=labels_name, label=int(labels.max())))
    # frombuffer over immutable bytes is already read-only; say so explicitly for the cache.
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


class _AttemptFailed(Exception):
    """One mirror did not deliver a good file; the next is tried."""


def download(name: str, directory: Path) -> Path:
    """Download ``<name>.gz`` into ``directory``, trying each of :func:`mirrors` in order.

    The file is written to a temporary file beside its destination, its decompressed MD5 checked
    against :data:`MD5SUMS`, and only then moved into place; a failed attempt leaves nothing.

    Returns:
        The path of the verified file.

    Raises:
        DataError: the folder is not writable, or every mirror failed (the message lists why).
    """
    filename = f"{name}.gz"
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(_("cannot create {directory} for MNIST ({problem}); set {variable} to a writable folder").format(directory=directory, problem=error.strerror, variable=DATA_ENV_VAR)) from error
    failures = []
    for base in mirrors():
        url = base + filename
        try:
            _download_verified(url, name, directory / filename)
        except _AttemptFailed as failure:
            failures.append(f"{url}: {failure}")
            continue
        return directory / filename
    reasons = "; ".join(failures) or "no mirrors configured"
    raise DataError(_("could not download {filename} into {directory} ({reasons}); check your connection, set {variable} to another mirror, or copy the file there by hand").format(filename=filename, directory=directory, reasons=reasons, variable=MIRROR_ENV_VAR))


def _download_verified(url: str, name: str, destination: Path) -> None:
    try:
        handle = tempfile.NamedTemporaryFile(dir=destination.parent, prefix=f".{destination.name}.", suffix=".part", delete=False)
    except OSError as error:
        raise DataError(_("cannot write to {folder} ({problem}); set {variable} to a writable folder").format(folder=destination.parent, problem=error.strerror, variable=DATA_ENV_VAR)) from error
    temp = Path(handle.name)
    try:
        with handle:
            _fetch(url, handle, destination.name)
        _check_md5(_decompress(temp.read_bytes(), "the downloaded file"), name, "the downloaded file")
        os.replace(temp, destination)
    except (OSError, http.client.HTTPException) as error:
        raise _AttemptFailed(_describe(error)) from error
    except DataError as error:
        raise _AttemptFailed(str(error)) from error
    finally:
        temp.unlink(missing_ok=True)


def _fetch(url: str, out: BinaryIO, label: str) -> None:
    from tqdm import tqdm  # ~80 ms to import; only downloads need it

    request = urllib.request.Request(url, headers={"User-Agent": "cnn-course-autograder"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:
        total = response.headers.get("Content-Length")
        with tqdm(total=int(total) if total else None, unit="B", unit_scale=True, desc=label, leave=False, file=sys.stderr) as bar:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                bar.update(len(chunk))


def _describe(error: BaseException) -> str:
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code}"
    if isinstance(error, urllib.error.URLError):
        return _("unreachable ({reason})").format(reason=error.reason)
    if isinstance(error, http.client.IncompleteRead):
        return _("connection closed before the end of the file")
    return f"{type(error).__name__}: {error}"


def _decompress(data: bytes, what: str) -> bytes:
    try:
        return gzip.decompress(data)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataError(_("{what} is not a valid gzip file ({problem})").format(what=what, problem=error or 'truncated')) from error


def _check_md5(raw: bytes, name: str, what: str) -> None:
    digest = hashlib.md5(raw).hexdigest()
    if digest != MD5SUMS[name]:
        raise DataError(_("{what} has MD5 {digest} after decompression, expected {want} (corrupt or truncated)").format(what=what, digest=digest, want=MD5SUMS[name]))


def _read_idx(name: str, folder: Path) -> np.ndarray:
    path = folder / f"{name}.gz"
    if not path.exists():
        download(name, folder)
    try:
        raw = _decompress(path.read_bytes(), str(path))
        _check_md5(raw, name, str(path))
    except OSError as error:
        raise DataError(_("cannot read {path} ({problem}); check its permissions or delete it to download it again").format(path=path, problem=error.strerror)) from error
    except DataError as error:
        raise DataError(_("{error}; delete it to download it again").format(error=error)) from error
    return parse_idx(raw, str(path))


