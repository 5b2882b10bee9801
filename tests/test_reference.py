"""Reference models: committed weights, manifest, verified loading, and a short training run."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

from autograder.data import mnist_tensors
from autograder.paths import REFERENCE_DIR
from autograder.reference import MODELS, WeightsError, load, load_numpy, read_manifest, weights_path
from autograder.reference.evaluate import count_correct
from autograder.reference.train import BACKGROUND, main, random_shift, recipe_split, train
from autograder.reference.weights import manifest_path, sha256_file

NAMES = sorted(MODELS)
MIN_ACCURACY = {"lenet5": 0.991, "lenet5_digits04": 0.995, "minivgg": 0.994}


@pytest.fixture(scope="module")
def test_set() -> tuple[torch.Tensor, torch.Tensor]:
    return mnist_tensors("test")


@pytest.fixture(scope="module")
def test_sets() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Each model's test images: all of MNIST's, or its recipe's digits only."""
    return {name: recipe_split(name, "test") for name in NAMES}


@pytest.fixture
def weights_copy(tmp_path: Path) -> Path:
    """A copy of the committed weights and manifest that a test may damage."""
    for name in NAMES:
        shutil.copyfile(weights_path(name), weights_path(name, tmp_path))
    shutil.copyfile(manifest_path(), manifest_path(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", NAMES)
def test_committed_weights_reach_exactly_the_manifest_test_accuracy(name: str, test_sets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    entry, test_set = read_manifest()[name], test_sets[name]
    correct = count_correct(load(name), *test_set)
    assert correct == entry["test_correct"]
    assert correct / len(test_set[1]) == entry["test_accuracy"]


def test_the_digits_0_4_model_never_saw_a_5_to_9_and_says_so_in_its_manifest(test_sets: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> None:
    entry = read_manifest()["lenet5_digits04"]
    assert entry["digits"] == [0, 1, 2, 3, 4] and "digits 0, 1, 2, 3, 4 only" in entry["dataset"]
    assert set(recipe_split("lenet5_digits04", "train")[1].tolist()) == {0, 1, 2, 3, 4}
    assert entry["test_total"] == len(test_sets["lenet5_digits04"][1]) < 10000
    assert entry["device"].startswith("cpu: ")


@pytest.mark.parametrize("name", NAMES)
def test_manifest_accuracy_meets_the_course_target(name: str) -> None:
    assert read_manifest()[name]["test_accuracy"] >= MIN_ACCURACY[name]


@pytest.mark.parametrize("name", NAMES)
def test_manifest_sha256_matches_the_committed_weights_file(name: str) -> None:
    assert read_manifest()[name]["sha256"] == sha256_file(weights_path(name))


@pytest.mark.parametrize("name", NAMES)
def test_manifest_parameter_count_keys_and_shapes_match_the_model_and_the_file(name: str) -> None:
    entry = read_manifest()[name]
    model_shapes = {key: list(value.shape) for key, value in MODELS[name]().state_dict().items()}
    file_shapes = {key: list(value.shape) for key, value in load_numpy(name).items()}
    assert entry["tensors"] == model_shapes == file_shapes
    assert entry["parameter_count"] == sum(p.numel() for p in MODELS[name]().parameters())


def test_lenet5_state_dict_keys_and_shapes_are_the_documented_ones() -> None:
    shapes = {key: tuple(value.shape) for key, value in MODELS["lenet5"]().state_dict().items()}
    assert shapes == {
        "conv1.weight": (6, 1, 5, 5), "conv1.bias": (6,),
        "conv2.weight": (16, 6, 5, 5), "conv2.bias": (16,),
        "fc1.weight": (120, 400), "fc1.bias": (120,),
        "fc2.weight": (84, 120), "fc2.bias": (84,),
        "fc3.weight": (10, 84), "fc3.bias": (10,),
    }  # fmt: skip


@pytest.mark.parametrize("name", NAMES)
def test_a_tampered_weights_file_is_refused_with_a_one_line_weights_error(name: str, weights_copy: Path) -> None:
    path = weights_path(name, weights_copy)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # the last float's mantissa: the file still parses, only the hash can tell
    path.write_bytes(bytes(raw))
    for loader in (load, load_numpy):
        with pytest.raises(WeightsError, match=r"SHA-256 .* corrupt or modified") as error:
            loader(name, directory=weights_copy)
        assert "\n" not in str(error.value)


def test_a_missing_weights_file_is_refused_with_what_to_do(weights_copy: Path) -> None:
    weights_path("lenet5", weights_copy).unlink()
    with pytest.raises(WeightsError, match="is missing; restore it with git"):
        load_numpy("lenet5", directory=weights_copy)


def test_an_unknown_model_name_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown model 'alexnet'"):
        load("alexnet")


@pytest.mark.parametrize("name", NAMES)
def test_load_numpy_gives_float64_arrays_equal_to_the_torch_state_dict(name: str) -> None:
    arrays = load_numpy(name)
    state = load(name).state_dict()
    assert set(arrays) == set(state)
    for key, tensor in state.items():
        assert arrays[key].dtype == np.float64
        np.testing.assert_array_equal(arrays[key], tensor.double().numpy())


def test_load_returns_the_model_in_eval_mode() -> None:
    model = load("minivgg")
    assert not model.training and not any(m.training for m in model.modules())


def test_load_numpy_does_not_import_torch() -> None:
    code = "import sys; from autograder.reference import load_numpy; load_numpy('lenet5'); assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_random_shift_translates_each_image_by_at_most_two_pixels(test_set: tuple[torch.Tensor, torch.Tensor]) -> None:
    x = test_set[0][:64]
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=BACKGROUND)
    crops = torch.stack([padded[:, :, dy : dy + 28, dx : dx + 28] for dy in range(5) for dx in range(5)], dim=1)
    matches = (crops == shifted[:, None]).flatten(2).all(dim=2)
    assert matches.any(dim=1).all(), "every output must be one of the 25 translations of its input"
    assert not matches[:, 12].all(), "some images must actually move"
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Train on one thread: on a busy shared 2-core machine two threads wait on each other."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is missing")
def test_train_cli_exits_2_with_a_message_when_cuda_is_requested_but_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lenet5", "--device", "cuda", "--output-dir", str(tmp_path)]) == 2
    assert "no CUDA device is available" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_a_short_training_run_lowers_the_loss_and_leaves_the_committed_manifest_alone(tmp_path: Path, one_thread: None) -> None:
    committed = manifest_path().read_bytes()
    result = train("lenet5", max_steps=200, device="cpu", output_dir=tmp_path, progress=False)
    initial, final = np.mean(result.losses[:10]), np.mean(result.losses[-20:])
    assert len(result.losses) == 200
    assert final < 0.5 * initial, f"loss went from {initial:.3f} to {final:.3f}"
    assert result.entry["sha256"] == sha256_file(tmp_path / "lenet5.safetensors")
    assert read_manifest(tmp_path)["lenet5"]["steps"] == 200
    assert manifest_path().read_bytes() == committed
    assert REFERENCE_DIR not in result.weights.parents
