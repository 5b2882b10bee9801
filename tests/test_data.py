"""MNIST loading, normalization, and the download path against a loopback mirror."""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from autograder import data
from autograder.data import DataError, MNIST_MEAN, MNIST_STD, load_mnist, mnist_tensors, normalize, parse_idx

from conftest import serve_folder

TEST_FILES = ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Published class counts of the 10k test set, digits 0-9.
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def source_dir() -> Path:
    """The configured MNIST folder (the shared copy in CI); only ever read from."""
    folder = data.mnist_dir()
    if not all((folder / f"{name}.gz").exists() for name in TEST_FILES):
        pytest.skip(f"MNIST test files not found in {folder}; set CNN_COURSE_DATA")
    return folder


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, source_dir: Path) -> Iterator[str]:
    """A loopback HTTP server; returns its base URL. Folders under it act as mirrors:
    ``good/`` (faithful copies), ``missing/`` (404), ``flipped/`` (payload bytes changed and
    re-gzipped), ``garbled/`` (gzip bytes changed), ``truncated/`` (gzip cut in half)."""
    root = tmp_path_factory.mktemp("www")
    for folder in ("good", "missing", "flipped", "garbled", "truncated"):
        (root / folder).mkdir(parents=True)
    for name in TEST_FILES:
        original = (source_dir / f"{name}.gz").read_bytes()
        (root / "good" / f"{name}.gz").write_bytes(original)
        payload = bytearray(gzip.decompress(original))
        payload[-100:] = bytes(255 - b for b in payload[-100:])
        (root / "flipped" / f"{name}.gz").write_bytes(gzip.compress(bytes(payload), compresslevel=1))
        garbled = bytearray(original)
        garbled[len(garbled) // 2 : len(garbled) // 2 + 16] = b"\x00" * 16
        (root / "garbled" / f"{name}.gz").write_bytes(bytes(garbled))
        (root / "truncated" / f"{name}.gz").write_bytes(original[: len(original) // 2])
    with serve_folder(root) as url:
        yield f"{url}/"


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the loader at an empty data folder with no mirrors configured; returns ``<data>/mnist``."""
    monkeypatch.setenv("CNN_COURSE_DATA", str(tmp_path / "data"))
    monkeypatch.delenv(data.MIRROR_ENV_VAR, raising=False)
    monkeypatch.setattr(data, "MIRRORS", ())
    yield tmp_path / "data" / "mnist"
    data._load_split.cache_clear()


def test_load_mnist_train_has_60000_uint8_images_of_28_by_28() -> None:
    images, labels = load_mnist("train")
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8


def test_load_mnist_test_has_10000_images_with_the_published_class_counts() -> None:
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels.min() == 0 and labels.max() == 9
    assert np.bincount(labels, minlength=10).tolist() == TEST_LABEL_COUNTS


def test_load_mnist_rejects_an_unknown_split_with_a_one_line_value_error() -> None:
    with pytest.raises(ValueError, match="'train' or 'test'") as error:
        load_mnist("validation")
    assert "\n" not in str(error.value)


def test_load_mnist_returns_read_only_arrays_so_callers_cannot_corrupt_the_cache() -> None:
    images, labels = load_mnist("test")
    with pytest.raises(ValueError):
        images[0, 0, 0] = 1
    with pytest.raises(ValueError):
        labels.flags.writeable = True
    assert load_mnist("test")[0] is not images


def test_normalize_gives_float32_nchw_with_zero_mean_and_unit_std_on_train() -> None:
    x = normalize(load_mnist("train")[0])
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.float32
    assert abs(float(x.mean(dtype=np.float64))) < 1e-3
    assert abs(float(x.std(dtype=np.float64)) - 1.0) < 1e-3


def test_normalize_maps_black_and_white_pixels_with_the_mnist_constants() -> None:
    x = normalize(np.array([[[0, 255]]], dtype=np.uint8))
    np.testing.assert_allclose(x[0, 0, 0], [-MNIST_MEAN / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD], rtol=1e-6)


def test_normalize_rejects_images_without_a_batch_axis() -> None:
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        normalize(np.zeros((28, 28), dtype=np.uint8))


def test_mnist_tensors_gives_normalized_float32_images_and_int64_labels() -> None:
    import torch

    x, y = mnist_tensors("test")
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10000,) and y.dtype == torch.int64
    np.testing.assert_array_equal(x.numpy(), normalize(load_mnist("test")[0]))


def test_importing_the_data_module_does_not_import_torch() -> None:
    code = "import sys, autograder.data; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_files_are_downloaded_verified_and_loaded(empty_data_dir: Path, mirror: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(data.MIRROR_ENV_VAR, mirror + "good")
    images, labels = load_mnist("test")
    assert images.shape == (10000, 28, 28)
    assert np.bincount(labels, minlength=10).tolist() == TEST_LABEL_COUNTS
    assert sorted(p.name for p in empty_data_dir.iterdir()) == sorted(f"{name}.gz" for name in TEST_FILES)


def test_a_mirror_that_answers_404_falls_back_to_the_next_mirror(empty_data_dir: Path, mirror: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MIRRORS", (mirror + "missing/", mirror + "good/"))
    images, _ = load_mnist("test")
    assert images.shape == (10000, 28, 28)


def test_the_mirror_env_var_is_tried_before_the_built_in_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MIRRORS", ("https://a.example/mnist/",))
    monkeypatch.setenv(data.MIRROR_ENV_VAR, "http://127.0.0.1:9/mnist")
    assert data.mirrors() == ("http://127.0.0.1:9/mnist/", "https://a.example/mnist/")


@pytest.mark.parametrize("folder", ["flipped", "garbled", "truncated"])
def test_a_corrupt_download_is_rejected_and_leaves_no_file_behind(empty_data_dir: Path, mirror: str, monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    monkeypatch.setattr(data, "MIRRORS", (mirror + folder + "/",))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.gz") as error:
        load_mnist("test")
    message = str(error.value)
    assert "\n" not in message
    assert ("MD5" if folder == "flipped" else "gzip") in message
    assert list(empty_data_dir.iterdir()) == []


def test_a_failed_download_names_every_mirror_tried_and_what_to_do(empty_data_dir: Path, mirror: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MIRRORS", (mirror + "missing/", mirror + "truncated/"))
    with pytest.raises(DataError) as error:
        load_mnist("test")
    message = str(error.value)
    assert "missing/t10k-images-idx3-ubyte.gz: HTTP 404" in message
    assert "truncated/t10k-images-idx3-ubyte.gz" in message
    assert "copy the file there by hand" in message


def test_a_corrupt_file_already_on_disk_gives_a_data_error_not_garbage(empty_data_dir: Path, source_dir: Path) -> None:
    empty_data_dir.mkdir(parents=True)
    for name in TEST_FILES:
        shutil.copyfile(source_dir / f"{name}.gz", empty_data_dir / f"{name}.gz")
    target = empty_data_dir / "t10k-labels-idx1-ubyte.gz"
    payload = bytearray(gzip.decompress(target.read_bytes()))
    payload[8] = (payload[8] + 1) % 10
    target.write_bytes(gzip.compress(bytes(payload), compresslevel=1))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz has MD5 .*delete it to download it again"):
        load_mnist("test")


def test_parse_idx_rejects_a_bad_magic_number_naming_the_file() -> None:
    raw = (0x00000804).to_bytes(4, "big") + (1).to_bytes(4, "big") + b"\x00"
    with pytest.raises(DataError, match=r"labels\.gz: bad IDX magic number 0x00000804"):
        parse_idx(raw, "labels.gz")


def test_parse_idx_rejects_a_payload_shorter_than_the_header_says() -> None:
    header = (0x00000803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28))
    with pytest.raises(DataError, match=r"images\.gz: payload is 784 bytes but the header \(2, 28, 28\) needs 1568"):
        parse_idx(header + bytes(784), "images.gz")


def test_parse_idx_reads_images_and_labels_in_row_major_order() -> None:
    images = (0x00000803).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in (1, 28, 28)) + bytes(range(256)) * 3 + bytes(16)
    labels = (0x00000801).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([7, 2, 1])
    assert parse_idx(images, "i")[0, 1, 0] == 28
    assert parse_idx(labels, "l").tolist() == [7, 2, 1]
