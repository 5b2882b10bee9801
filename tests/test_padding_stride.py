"""02-padding-stride: the solution against PyTorch, the oracle fixture, the speed baseline, and
the checks on the solution, on a blank notebook and on seeded-bug variants."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.checks import padding_stride
from autograder.learner import InProcessLearner
from autograder.registry import checks_for

from conftest import (
    assert_every_check_passes,
    assert_every_check_says_not_implemented,
    assert_grading_imports_no_torch,
    assert_matches_torch,
    assert_notebook_is_numpy_only,
    assert_oracle_fixture_is_fresh,
    assert_seeded_bug_caught,
    assert_test_cells_match_checks,
    pair_or_int,
    run_checks,
)

pytestmark = pytest.mark.padding_stride

ASSIGNMENT = "02-padding-stride"
EXAMPLES = settings(max_examples=15, deadline=None, derandomize=True)


@st.composite
def conv_case(draw: st.DrawFn) -> dict[str, Any]:
    """Batch 1 or 4, 1 or 3 channels, odd sizes, non-square kernels, strides up to 3 and
    padding pairs with ph != pw, as ints or pairs."""
    n, c, o = draw(st.sampled_from([1, 4])), draw(st.sampled_from([1, 3])), draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    stride, padding = draw(pair_or_int(1, 3)), draw(pair_or_int(0, 2))
    (ph, pw) = padding_stride.as_pair(padding)
    h = draw(st.integers(max(1, kh - 2 * ph), 11))
    w = draw(st.integers(max(1, kw - 2 * pw), 11))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return {
        "x": rng.standard_normal((n, c, h, w)),
        "w": rng.standard_normal((o, c, kh, kw)),
        "b": rng.standard_normal(o),
        "stride": stride,
        "padding": padding,
    }


def torch_conv(case: dict[str, Any]) -> torch.Tensor:
    return F.conv2d(
        torch.from_numpy(case["x"]), torch.from_numpy(case["w"]), torch.from_numpy(case["b"]),
        stride=padding_stride.as_pair(case["stride"]), padding=padding_stride.as_pair(case["padding"]),
    )


# ---------------------------------------------------------------------------------------------
# 1. The solution against torch, directly, on random shapes


@EXAMPLES
@given(conv_case())
def test_conv2d_forward_matches_torch_with_stride_and_padding(solution: dict[str, Any], case: dict[str, Any]) -> None:
    got = solution["conv2d_forward"](case["x"], case["w"], case["b"], stride=case["stride"], padding=case["padding"])
    assert_matches_torch(got, torch_conv(case))


@settings(max_examples=6, deadline=None, derandomize=True)
@given(conv_case())
def test_conv2d_forward_loops_matches_torch(solution: dict[str, Any], case: dict[str, Any]) -> None:
    got = solution["conv2d_forward_loops"](case["x"], case["w"], case["b"], stride=case["stride"], padding=case["padding"])
    assert_matches_torch(got, torch_conv(case))


@EXAMPLES
@given(st.integers(1, 30), st.integers(1, 7), st.integers(0, 3), st.integers(1, 4), st.integers(1, 3))
def test_conv_output_size_matches_torch_output_shapes(solution: dict[str, Any], n: int, k: int, p: int, s: int, d: int) -> None:
    if d * (k - 1) + 1 > n + 2 * p:
        with pytest.raises(ValueError):
            solution["conv_output_size"](n, k, padding=p, stride=s, dilation=d)
        return
    shape = F.conv2d(torch.zeros(1, 1, n, 1), torch.zeros(1, 1, k, 1), stride=s, padding=(p, 0), dilation=d).shape
    assert solution["conv_output_size"](n, k, padding=p, stride=s, dilation=d) == shape[2]


@pytest.mark.parametrize("k, d", [(1, 1), (3, 1), (5, 1), (3, 2), (2, 2), (7, 3)])
def test_same_padding_keeps_the_size_in_torch(solution: dict[str, Any], k: int, d: int) -> None:
    p = solution["same_padding"](k, dilation=d)
    assert F.conv2d(torch.zeros(1, 1, 16, 16), torch.zeros(1, 1, k, k), padding=p, dilation=d).shape[-1] == 16


@pytest.mark.parametrize("padding", [0, 2, (1, 3), (2, 0)])
def test_pad2d_matches_torch_pad(solution: dict[str, Any], padding: int | tuple[int, int]) -> None:
    x = np.random.default_rng(3).standard_normal((4, 3, 5, 6))
    ph, pw = padding_stride.as_pair(padding)
    assert np.array_equal(solution["pad2d"](x, padding), F.pad(torch.from_numpy(x), (pw, pw, ph, ph)).numpy())


def test_conv2d_forward_keeps_float32_and_does_not_write_into_inputs(solution: dict[str, Any]) -> None:
    rng = np.random.default_rng(4)
    x, w, b = (rng.standard_normal(shape).astype(np.float32) for shape in ((4, 3, 9, 8), (2, 3, 3, 2), (2,)))
    before = [a.copy() for a in (x, w, b)]
    for name in ("conv2d_forward", "conv2d_forward_loops", "pad2d"):
        args = (x, 1) if name == "pad2d" else (x, w, b)
        assert solution[name](*args).dtype == np.float32, name
    got = solution["conv2d_forward"](x, w, b, stride=2, padding=(1, 2))
    expected = F.conv2d(*(torch.from_numpy(a.astype(np.float64)) for a in (x, w, b)), stride=2, padding=(1, 2))
    assert_matches_torch(got, expected, tolerance=1e-5)
    assert all(np.array_equal(a, a0) for a, a0 in zip((x, w, b), before))


# ---------------------------------------------------------------------------------------------
# 2. Error messages: one line, what is wrong and what to do

BAD_SIZES = [((5, 0), {}), ((5, 3), {"stride": 0}), ((5, 3), {"dilation": -1}), ((5, 3), {"padding": -2}), ((3, 5), {}), ((2, 5), {"padding": 1})]


@pytest.mark.parametrize("args, kwargs", BAD_SIZES)
def test_conv_output_size_error_is_one_line_saying_what_to_do(solution: dict[str, Any], args: tuple[int, ...], kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError) as error:
        solution["conv_output_size"](*args, **kwargs)
    message = str(error.value)
    assert "\n" not in message and "; " in message
    assert any(word in message.split("; ", 1)[1] for word in ("use", "pass")), message


@pytest.mark.parametrize("k, d", [(2, 1), (4, 1), (2, 3), (0, 1)])
def test_same_padding_error_is_one_line_saying_what_to_do(solution: dict[str, Any], k: int, d: int) -> None:
    with pytest.raises(ValueError) as error:
        solution["same_padding"](k, dilation=d)
    assert "\n" not in str(error.value) and any(word in str(error.value) for word in ("use", "pass"))


# ---------------------------------------------------------------------------------------------
# 3. The oracle fixture is up to date, the speed baseline is cached, grading needs no torch


def test_oracle_fixture_equals_a_fresh_build() -> None:
    assert_oracle_fixture_is_fresh(ASSIGNMENT)


def test_torch_baseline_is_measured_once_and_cached_by_machine_and_versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    runs = []

    def fake_run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        runs.append(command)
        return subprocess.CompletedProcess(command, 0, stdout="0.0125\n", stderr="")

    monkeypatch.setattr(padding_stride.subprocess, "run", fake_run)
    assert padding_stride.reference_per_torch() == 0.0125
    assert padding_stride.reference_per_torch() == 0.0125
    assert len(runs) == 1 and runs[0][0] == sys.executable
    (key,) = json.loads((tmp_path / "cnn-course" / "timings.json").read_text())
    assert f"torch {torch.__version__}" in key and f"numpy {np.__version__}" in key


def test_torch_baseline_measures_a_positive_median() -> None:
    assert 0.1 < padding_stride.measure_reference_per_torch(repeats=3) < 100  # NumPy vs one-threaded F.conv2d


def test_grading_the_solution_does_not_import_torch() -> None:
    assert_grading_imports_no_torch(ASSIGNMENT)


def test_notebook_has_one_locked_test_cell_per_check_and_no_forbidden_imports() -> None:
    assert_test_cells_match_checks(ASSIGNMENT)
    assert sum(check.points for check in checks_for(ASSIGNMENT)) == 19
    assert_notebook_is_numpy_only(ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 4. Checks on the solution and on a blank notebook


def test_every_check_passes_on_the_solution(solution_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_passes(solution_learner(ASSIGNMENT), ASSIGNMENT)


def test_every_check_fails_on_the_blank_notebook_saying_not_implemented(blank_learner: Callable[[str], InProcessLearner]) -> None:
    assert_every_check_says_not_implemented(blank_learner(ASSIGNMENT), ASSIGNMENT)


# ---------------------------------------------------------------------------------------------
# 5. Seeded bugs fail the right checks with the right hint

CONV_VALUES = {"02.conv2d_forward.basic", "02.conv2d_forward.stride_padding", "02.conv2d_forward.float32", "02.conv2d_forward.speed"}
ONE_SIDE_PAD = "np.pad(x, ((0, 0), (0, 0), (0, 2 * as_pair(padding)[0]), (0, 2 * as_pair(padding)[1])))"

VARIANTS: dict[str, tuple[Mapping[str, str], set[str], Mapping[str, str]]] = {
    # name: (replacements, checks that must fail, check id -> hint in its message)
    "ceil instead of floor": (
        {"return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1": "return int(np.ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride)) + 1"},
        {"02.conv_output_size.formula"}, {"02.conv_output_size.formula": "round down"}),
    "true division instead of floor division": (
        {"return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1": "return (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1"},
        {"02.conv_output_size.formula"}, {"02.conv_output_size.formula": "use // (floor division)"}),
    "oversized window accepted": (
        {"if span > n + 2 * padding:": "if False:"},
        {"02.conv_output_size.errors"}, {"02.conv_output_size.errors": "does not fit"}),
    "same padding for an even kernel": (
        {"if total % 2:": "if False:"},
        {"02.same_padding.errors"}, {"02.same_padding.errors": "raise ValueError"}),
    "same padding ignores dilation": (
        {"total = dilation * (k - 1)": "total = k - 1"},
        {"02.same_padding.values"}, {"02.same_padding.values": "d(k - 1) / 2"}),
    "pad2d pads one side with twice the padding": (
        {"(ph, ph), (pw, pw)": "(0, 2 * ph), (0, 2 * pw)"},
        {"02.pad2d.values"}, {"02.pad2d.values": "one side only"}),
    "pad2d pads one side only": (
        {"(ph, ph), (pw, pw)": "(0, ph), (0, pw)"},
        {"02.pad2d.values"}, {"02.pad2d.values": "one side only"}),
    "conv2d_forward pads one side only": (
        {"xp = pad2d(x, padding)": f"xp = {ONE_SIDE_PAD}"},
        {"02.conv2d_forward.stride_padding"}, {"02.conv2d_forward.stride_padding": "one side only"}),
    "conv2d_forward ignores the stride": (
        {"[:, :, ::sh, ::sw]": ""},
        {"02.conv2d_forward.stride_padding"}, {"02.conv2d_forward.stride_padding": "the stride was ignored"}),
    "conv2d_forward flips the kernel": (
        {"np.tensordot(windows, w, ": "np.tensordot(windows, w[:, :, ::-1, ::-1], "},
        CONV_VALUES, {"02.conv2d_forward.basic": "the kernel is flipped"}),
    "conv2d_forward forgets the bias": (
        {" + b[:, None, None]": ""},
        CONV_VALUES, {"02.conv2d_forward.speed": "fix correctness first", "02.conv2d_forward.basic": "the bias is missing"}),
    "conv2d_forward_loops forgets the bias": (
        {"np.sum(window * w[o]) + b[o]": "np.sum(window * w[o])"},
        {"02.conv2d_forward_loops.small"}, {"02.conv2d_forward_loops.small": "differs at"}),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_seeded_bug_fails_the_right_checks_with_a_hint(variant: str, variant_learner: Callable[..., InProcessLearner]) -> None:
    replacements, failing, hints = VARIANTS[variant]
    assert_seeded_bug_caught(run_checks(variant_learner(ASSIGNMENT, replacements), ASSIGNMENT), failing, hints)


@pytest.mark.slow
def test_loop_only_conv2d_forward_loses_only_the_speed_points(variant_learner: Callable[..., InProcessLearner]) -> None:
    loops = "    return conv2d_forward_loops(x, w, b, stride=stride, padding=padding)\n"
    learner = variant_learner(ASSIGNMENT, {"    sh, sw = as_pair(stride)\n    kh, kw = w.shape[2:]\n": loops})
    results = run_checks(learner, ASSIGNMENT)
    assert {check_id for check_id, message in results.items() if message} == {"02.conv2d_forward.speed"}, results
    assert "x as long as PyTorch's F.conv2d" in results["02.conv2d_forward.speed"]
    assert "sliding_window_view" in results["02.conv2d_forward.speed"]


LOOKUP_OF_THE_PUBLIC_SEEDS = """\
    import hashlib
    global _ANSWERS
    if "_ANSWERS" not in globals():  # the speed case's seeds are public: precompute their answers
        _ANSWERS = {}
        for seed in [205] + [(205, variant) for variant in range(1, 8)]:
            rng = np.random.default_rng(seed)
            xs, ws, bs = rng.standard_normal((64, 6, 14, 14)), rng.standard_normal((16, 6, 5, 5)), rng.standard_normal(16)
            _ANSWERS[hashlib.sha1(xs.tobytes()).hexdigest()] = conv2d_forward_loops(xs, ws, bs)
    known = _ANSWERS.get(hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest())
    if known is not None:
        return known.copy()
    return conv2d_forward_loops(x, w, b, stride=stride, padding=padding)
"""


@pytest.mark.slow
def test_looking_up_answers_for_seeded_inputs_does_not_buy_the_speed_points(variant_learner: Callable[..., InProcessLearner]) -> None:
    learner = variant_learner(ASSIGNMENT, {"    sh, sw = as_pair(stride)\n    kh, kw = w.shape[2:]\n": LOOKUP_OF_THE_PUBLIC_SEEDS})
    results = run_checks(learner, ASSIGNMENT, ["02.conv2d_forward.basic", "02.conv2d_forward.speed"])
    assert not results["02.conv2d_forward.basic"], results
    assert "x as long as PyTorch's F.conv2d" in results["02.conv2d_forward.speed"], results


def test_a_function_that_always_raises_earns_nothing_on_its_errors_checks(variant_learner):
    always_raises = {
        "    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1": "    raise ValueError('never')",
        "    return total // 2": "    raise ValueError('never')",
    }
    results = run_checks(variant_learner(ASSIGNMENT, always_raises), ASSIGNMENT, ["02.conv_output_size.errors", "02.same_padding.errors"])
    assert all(message and "must succeed (it is a valid call)" in message for message in results.values()), results


@pytest.mark.slow
@pytest.mark.xdist_group("sandbox-timing")  # never beside the sandbox tests' short timeouts
def test_the_timed_check_gives_the_same_score_idle_and_under_four_cpu_hogs(tmp_path: Path) -> None:
    from autograder import engine

    from hostile import solution_with

    loops = "    return conv2d_forward_loops(x, w, b, stride=stride, padding=padding)\n"
    notebooks = {
        "solution": solution_with(tmp_path / "solution", {}),
        "loops": solution_with(tmp_path / "loops", {"    sh, sw = as_pair(stride)\n    kh, kw = w.shape[2:]\n": loops}),
    }

    def scores() -> dict[str, list[float]]:
        return {name: [engine.grade_notebook(path, only="02.conv2d_forward.speed").score for _ in range(5)] for name, path in notebooks.items()}

    idle = scores()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(4)]
    try:
        busy = scores()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert idle == busy == {"solution": [3.0] * 5, "loops": [0.0] * 5}
