"""07-pytorch: the oracle fixture, the drivers, the checks on the solution (the accuracy gate and
the transfer comparison once per session, through the command line), on a blank notebook and on
seeded-bug variants."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch

from autograder.assignments import get_assignment
from autograder.checks import pytorch
from autograder.learner import InProcessLearner
from autograder.registry import checks_for, get_check

from conftest import (
    assert_every_check_says_not_implemented,
    assert_oracle_fixture_is_fresh,
    assert_seeded_variant_caught,
    assert_test_cells_match_checks,
    learner_from_notebook,
    run_checks,
)

pytestmark = pytest.mark.pytorch

ASSIGNMENT = "07-pytorch"
GATE = "07.fit_mnist.accuracy"
TRANSFER = "07.transfer.beats_scratch"
FROZEN = "07.transfer_head.frozen"
CHEAP_CHECKS = [c.id for c in checks_for(ASSIGNMENT) if c.id not in (GATE, TRANSFER)]


@pytest.fixture(scope="module")
def solution_learner_07() -> InProcessLearner:
    return learner_from_notebook(get_assignment(ASSIGNMENT).solution_path)


@pytest.fixture(scope="module")
def solution_results(solution_learner_07: InProcessLearner) -> dict[str, str | None]:
    """Every check but the gate and the transfer comparison on the solution, in process (those two
    run once per session through the command line: conftest's ``pytorch_solution_graded``)."""
    return run_checks(solution_learner_07, ASSIGNMENT, CHEAP_CHECKS)


# ---------------------------------------------------------------------------------------------
# 1. Oracle fixture, registry, notebook


def test_oracle_fixture_equals_a_fresh_torch_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


def test_points_total_28_and_the_notebook_has_one_locked_test_cell_per_check() -> None:
    assert sum(c.points for c in checks_for(ASSIGNMENT)) == 28
    assert [c.id for c in checks_for(ASSIGNMENT, include_hidden=True) if c.hidden] == ["07.split_indices.hidden_sizes"]
    assert_test_cells_match_checks(ASSIGNMENT)


def test_07_is_taught_in_the_training_chapter_by_its_registry_row() -> None:
    assignment = get_assignment("07")
    assert (assignment.checks_module, assignment.chapter) == ("pytorch", "training")
    assert all(a.chapter == a.checks_module for a in (get_assignment(n) for n in ("01", "05", "06")))


# ---------------------------------------------------------------------------------------------
# 2. Checks on the solution and on a blank notebook


def test_every_cheap_check_passes_on_the_solution(solution_results: dict[str, str | None]) -> None:
    assert set(solution_results) == set(CHEAP_CHECKS)
    assert solution_results == dict.fromkeys(solution_results), {k: v for k, v in solution_results.items() if v}


def test_the_hidden_check_passes_on_the_solution(solution_learner_07: InProcessLearner) -> None:
    get_check("07.split_indices.hidden_sizes").func(solution_learner_07)


def test_the_solution_graded_officially_scores_every_point_the_gate_transfer_and_hidden_check_included(pytorch_solution_graded: dict[str, Any]) -> None:
    scores = {t["number"]: (t["score"], t["max_score"]) for t in pytorch_solution_graded["tests"]}
    every = checks_for(ASSIGNMENT, include_hidden=True)
    assert set(scores) == {c.id for c in every}
    assert all(score == most for score, most in scores.values()), {k: v for k, v in scores.items() if v[0] != v[1]}
    err = pytorch_solution_graded["stderr"]
    assert "07.fit_mnist.accuracy: training your fit_mnist on 60,000 images" in err
    assert "of 10,000 test images right in" in err and "07.transfer.beats_scratch: fine-tuned" in err


def test_the_gate_prints_progress_lines_while_one_long_call_trains(monkeypatch: pytest.MonkeyPatch, solution_learner_07: InProcessLearner, capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(pytorch, "HEARTBEAT_SECONDS", 0.05)
    monkeypatch.setattr(pytorch, "GATE_TRAIN_IMAGES", 100)
    net = solution_learner_07.namespace["Net"]

    def slow_untrained(images: np.ndarray, labels: np.ndarray, seed: int, device: str = "cpu") -> Any:
        time.sleep(0.3)
        return net()

    monkeypatch.setitem(solution_learner_07.namespace, "fit_mnist", slow_untrained)
    message = run_checks(solution_learner_07, ASSIGNMENT, [GATE])[GATE] or ""
    err = capfd.readouterr().err
    assert "training your fit_mnist on 100 images" in err and "still training" in err
    assert "the network did not learn" in message


def test_the_gate_fails_a_fit_mnist_over_the_time_limit_with_a_message_that_says_so(monkeypatch: pytest.MonkeyPatch, solution_learner_07: InProcessLearner) -> None:
    monkeypatch.setattr(pytorch, "GATE_TIME_LIMIT", 0.0)
    monkeypatch.setattr(pytorch, "GATE_TRAIN_IMAGES", 100)
    net = solution_learner_07.namespace["Net"]
    monkeypatch.setitem(solution_learner_07.namespace, "fit_mnist", lambda images, labels, seed, device="cpu": net())
    message = run_checks(solution_learner_07, ASSIGNMENT, [GATE])[GATE] or ""
    assert "over the 0 s limit" in message


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_says_not_implemented(blank_learner(ASSIGNMENT), ASSIGNMENT)


def test_the_training_driver_reports_a_best_epoch_before_the_last_so_restoring_it_is_tested(solution_learner_07: InProcessLearner) -> None:
    got, _ = pytorch._train_run(solution_learner_07)
    accuracy = got["val_accuracy"]
    assert int(np.argmax(accuracy)) < len(accuracy) - 1
    assert not np.array_equal(got["snapshots"][-1], got["final"])


def test_the_transfer_sample_is_50_images_of_each_digit_5_to_9_and_the_test_set_only_5_to_9() -> None:
    images, labels = pytorch.transfer_sample()
    assert images.shape == (250, 28, 28) and np.bincount(labels, minlength=10).tolist() == [0] * 5 + [50] * 5
    _, test_labels = pytorch.transfer_test_set()
    assert set(test_labels.tolist()) == {5, 6, 7, 8, 9} and len(test_labels) == 4861


def test_the_frozen_features_of_the_solution_equal_the_reference_bitwise(solution_learner_07: InProcessLearner) -> None:
    from autograder.reference import load

    model = solution_learner_07.namespace["transfer_head"](*pytorch.transfer_sample(), seed=0)
    reference = load(pytorch.REFERENCE)
    for name, tensor in reference.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor) == name.startswith(pytorch.FEATURES), name
    assert not any(p.requires_grad for p in [*model.conv1.parameters(), *model.conv2.parameters()])


# ---------------------------------------------------------------------------------------------
# 3. Seeded bugs fail the right check with the right hint (never training to the gate; each runs
#    only the checks named, as `--only` would: every train_model check trains once)

VARIANTS: dict[str, tuple[Mapping[str, str], list[str], set[str], Mapping[str, str]]] = {
    # name: (replacements, checks to run, checks that must fail, check -> hint in its failure)
    "zero_grad forgotten": (
        {"            optimizer.zero_grad()\n            loss = F.cross_entropy(model(x), y)\n": "            loss = F.cross_entropy(model(x), y)\n"},
        ["07.train_model.optimizer"], {"07.train_model.optimizer"}, {"07.train_model.optimizer": "optimizer.zero_grad() before loss.backward()"}),
    "eval() not set for validation": (
        {"    model.eval()\n    correct = total = 0\n": "    correct = total = 0\n"},
        ["07.train_model.modes"], {"07.train_model.modes"}, {"07.train_model.modes": "call model.eval() before validation"}),
    "train() not set again after validation": (
        {"    for _ in range(epochs):\n        model.train()\n        total, seen = 0.0, 0\n": "    model.train()\n    for _ in range(epochs):\n        total, seen = 0.0, 0\n"},
        ["07.train_model.modes"], {"07.train_model.modes"}, {"07.train_model.modes": "call model.train() at the start of every epoch"}),
    "labels shuffled apart from the images": (
        {"    dataset = MNISTDataset(images, labels)\n    train_indices": "    dataset = MNISTDataset(images, np.random.default_rng(seed).permutation(labels))\n    train_indices"},
        ["07.dataset.items", "07.make_loaders.batches"], {"07.make_loaders.batches"}, {"07.make_loaders.batches": "shuffle the labels with the images"}),
    "data not normalised": (
        {"x = (self.images[i].to(torch.float32) / 255.0 - MNIST_MEAN) / MNIST_STD": "x = self.images[i].to(torch.float32)"},
        ["07.dataset.items", "07.make_loaders.batches"], {"07.dataset.items", "07.make_loaders.batches"}, {"07.dataset.items": "the data is not normalised"}),
    "weight decay on the biases too": (
        {"    optimizer = torch.optim.AdamW(groups, lr=lr)\n    schedule": "    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)\n    schedule"},
        ["07.train_model.optimizer"], {"07.train_model.optimizer"}, {"07.train_model.optimizer": "decay the weights only"}),
    "the last epoch's weights kept, not the best": (
        {"    model.load_state_dict(best_state)\n    return history": "    return history"},
        ["07.train_model.early_stopping"], {"07.train_model.early_stopping"}, {"07.train_model.early_stopping": "keep a copy of the state_dict"}),
    "batches left on the CPU": (
        {"            x, y = x.to(device), y.to(device)\n            optimizer.zero_grad()\n": "            optimizer.zero_grad()\n"},
        ["07.train_model.device"], {"07.train_model.device"}, {"07.train_model.device": "x, y = x.to(device), y.to(device)"}),
    "the feature extractor not frozen": (
        {"    model.conv1.requires_grad_(False)\n    model.conv2.requires_grad_(False)\n": ""},
        [FROZEN], {FROZEN}, {FROZEN: "requires_grad_(False)"}),
    "saved with torch.save, not safetensors": (
        {"    save_file({key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}, path)": "    torch.save(model.state_dict(), path)"},
        ["07.save.roundtrip"], {"07.save.roundtrip"}, {"07.save.roundtrip": "not a safetensors file"}),
    "split not seeded": (
        {"order = np.random.default_rng(seed).permutation(n)": "order = np.random.permutation(n)"},
        ["07.split_indices.disjoint_seeded"], {"07.split_indices.disjoint_seeded"}, {"07.split_indices.disjoint_seeded": "np.random.default_rng(seed)"}),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_seeded_bug_fails_exactly_the_right_checks_with_its_hint(variant_learner: Callable[..., InProcessLearner], name: str) -> None:
    assert_seeded_variant_caught(variant_learner, ASSIGNMENT, VARIANTS[name])


def test_a_learning_rate_far_too_high_fails_the_gate_with_its_hint(monkeypatch: pytest.MonkeyPatch, variant_learner: Callable[..., InProcessLearner]) -> None:
    monkeypatch.setattr(pytorch, "GATE_TRAIN_IMAGES", 600)  # a short gate: enough to tell learning from divergence
    replacements = {"epochs=2, lr=3e-3, device=device, seed=seed)": "epochs=2, lr=3.0, device=device, seed=seed)"}
    assert_seeded_variant_caught(variant_learner, ASSIGNMENT, (replacements, [GATE], {GATE}, {GATE: "learning rate far too high"}))


# ---------------------------------------------------------------------------------------------
# 4. The Chinese catalog of 07's messages


def test_every_message_of_07s_checks_has_a_chinese_translation_with_the_same_placeholders() -> None:
    import ast
    import re
    import string

    import polib

    from autograder.i18n import LOCALE_DIR

    source = Path(pytorch.__file__).read_text(encoding="utf-8")
    msgids = {node.args[0].value for node in ast.walk(ast.parse(source))
              if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_" and node.args and isinstance(node.args[0], ast.Constant)}
    catalog = {e.msgid: e.msgstr for e in polib.pofile(str(LOCALE_DIR / "zh_CN" / "LC_MESSAGES" / "autograder" / "checks.pytorch.po"))}
    assert msgids and msgids <= set(catalog), sorted(msgids - set(catalog))

    def fields(text: str) -> list[str]:
        return sorted(f"{name}:{spec}" for _, name, spec, _ in string.Formatter().parse(text) if name is not None)

    for msgid in msgids:
        assert catalog[msgid] and fields(catalog[msgid]) == fields(msgid), msgid
        assert re.search(r"[\u4e00-\u9fff]", catalog[msgid]) or not re.search(r"[a-z]{4}", msgid), msgid


def test_a_07_message_reads_in_chinese_when_the_language_is_chinese(monkeypatch: pytest.MonkeyPatch, solution_learner_07: InProcessLearner) -> None:
    from autograder import i18n

    monkeypatch.setattr(i18n, "_chosen", None)
    monkeypatch.setenv(i18n.LANG_ENV_VAR, "zh_CN")
    monkeypatch.setitem(solution_learner_07.namespace, "split_indices", lambda n, val_fraction, seed: (np.arange(n - 20), np.arange(n - 20, n)))
    message = run_checks(solution_learner_07, ASSIGNMENT, ["07.split_indices.disjoint_seeded"])["07.split_indices.disjoint_seeded"] or ""
    assert "验证索引必须是依赖随机种子的随机样本" in message


def test_the_literal_titles_state_the_configured_limits() -> None:
    # Titles are literal msgids for the Chinese catalog; they must say what the checks enforce.
    assert f"at most {pytorch.MAX_PARAMETERS:,} parameters" in get_check("07.net.size").title
    assert f"reaches {pytorch.GATE_ACCURACY:.1%} MNIST test accuracy within {pytorch.GATE_TIME_LIMIT:.0f} s" in get_check("07.fit_mnist.accuracy").title
