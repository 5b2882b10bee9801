"""The grader's stand-ins (autograder/isolation/standins.py) agree with PyTorch, refuse bad or
huge arguments, and are reachable only during the call that swaps them in."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.assignments import get_assignment
from autograder.isolation import standins
from autograder.learner import InProcessLearner, LearnerError

RNG = np.random.default_rng(9)


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 1), (0, 2))])
def test_conv2d_forward_standin_matches_torch(stride, padding):
    x, w, b = RNG.normal(size=(2, 3, 9, 8)), RNG.normal(size=(4, 3, 3, 2)), RNG.normal(size=4)
    expected = F.conv2d(t(x), t(w), t(b), stride=stride, padding=padding).numpy()
    np.testing.assert_allclose(standins.conv2d_forward(x, w, b, stride=stride, padding=padding), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))])
def test_maxpool2d_forward_standin_matches_torch(kernel_size, stride, padding):
    x = RNG.normal(size=(2, 3, 7, 8))
    expected = F.max_pool2d(t(x), kernel_size, stride=stride, padding=padding).numpy()
    np.testing.assert_array_equal(standins.maxpool2d_forward(x, kernel_size, stride=stride, padding=padding), expected)


def test_corr2d_standins_match_torch():
    x, k = RNG.normal(size=(3, 7, 6)), RNG.normal(size=(3, 3, 2))
    expected_multi = F.conv2d(t(x)[None], t(k)[None])[0, 0].numpy()
    np.testing.assert_allclose(standins.corr2d_multi_in(x, k), expected_multi, rtol=1e-12, atol=1e-12)
    expected_single = F.conv2d(t(x[:1])[None], t(k[:1])[None])[0, 0].numpy()
    np.testing.assert_allclose(standins.corr2d(x[0], k[0]), expected_single, rtol=1e-12, atol=1e-12)


def test_pad_relu_linear_and_output_size_standins_match_torch():
    x = RNG.normal(size=(2, 3, 4, 5))
    np.testing.assert_array_equal(standins.pad2d(x, (1, 2)), F.pad(t(x), (2, 2, 1, 1)).numpy())
    np.testing.assert_array_equal(standins.relu_forward(x), F.relu(t(x)).numpy())
    a, w, b = RNG.normal(size=(5, 6)), RNG.normal(size=(3, 6)), RNG.normal(size=3)
    np.testing.assert_allclose(standins.linear_forward(a, w, b), F.linear(t(a), t(w), t(b)).numpy(), rtol=1e-12)
    for n, k, p, s, d in [(28, 5, 2, 1, 1), (7, 3, 1, 2, 1), (10, 3, 0, 3, 2)]:
        size = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), padding=p, stride=s, dilation=d).shape[-1]
        assert standins.conv_output_size(n, k, padding=p, stride=s, dilation=d) == size
    with pytest.raises(ValueError):
        standins.conv_output_size(3, 5)


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), ((2, 1), (0, 2)), (3, 0)])
def test_conv2d_backward_standin_matches_autograd(stride, padding):
    x, w, b = (torch.tensor(RNG.normal(size=s), requires_grad=True) for s in [(2, 3, 9, 8), (4, 3, 3, 2), (4,)])
    out = F.conv2d(x, w, b, stride=stride, padding=padding)
    dout = RNG.normal(size=out.shape)
    out.backward(t(dout))
    got = standins.conv2d_backward(dout, x.detach().numpy(), w.detach().numpy(), b.detach().numpy(), stride=stride, padding=padding)
    for g, expected in zip(got, (x.grad, w.grad, b.grad)):
        np.testing.assert_allclose(g, expected.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kernel_size, stride, padding", [(2, None, 0), (3, 2, 1), ((2, 3), (1, 2), (1, 1))])
def test_maxpool2d_backward_standin_matches_autograd_also_on_ties(kernel_size, stride, padding):
    x = torch.tensor(np.round(RNG.normal(size=(2, 3, 7, 8)), 0), requires_grad=True)  # many ties
    out = F.max_pool2d(x, kernel_size, stride=stride, padding=padding)
    dout = RNG.normal(size=out.shape)
    out.backward(t(dout))
    got = standins.maxpool2d_backward(dout, x.detach().numpy(), kernel_size, stride=stride, padding=padding)
    np.testing.assert_allclose(got, x.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_relu_linear_and_softmax_backward_standins_match_autograd():
    x = torch.tensor(np.round(RNG.normal(size=(4, 5)), 0), requires_grad=True)  # zeros included
    dout = RNG.normal(size=(4, 5))
    F.relu(x).backward(t(dout))
    np.testing.assert_array_equal(standins.relu_backward(dout, x.detach().numpy()), x.grad.numpy())
    a, w, b = (torch.tensor(RNG.normal(size=s), requires_grad=True) for s in [(5, 6), (3, 6), (3,)])
    dout = RNG.normal(size=(5, 3))
    F.linear(a, w, b).backward(t(dout))
    for g, expected in zip(standins.linear_backward(dout, a.detach().numpy(), w.detach().numpy()), (a.grad, w.grad, b.grad)):
        np.testing.assert_allclose(g, expected.numpy(), rtol=1e-12, atol=1e-12)
    logits = torch.tensor(RNG.normal(size=(6, 4)) * np.array([1, 1, 1, 1e3]), requires_grad=True)  # huge logits stay finite
    y = RNG.integers(0, 4, size=6)
    loss = F.cross_entropy(logits, torch.from_numpy(y))
    loss.backward()
    got_loss, got_grad = standins.softmax_cross_entropy(logits.detach().numpy(), y)
    assert got_loss == pytest.approx(loss.item(), rel=1e-12)
    np.testing.assert_allclose(got_grad, logits.grad.numpy(), rtol=1e-10, atol=1e-15)
    with pytest.raises(standins.StandInError):
        standins.softmax_cross_entropy(logits.detach().numpy(), y + 4)


def test_standins_refuse_wrong_types_and_unaffordable_work():
    with pytest.raises(standins.StandInError, match="NumPy array"):
        standins.pad2d([[1.0]], 1)
    with pytest.raises(standins.StandInError, match="multiply-adds"):
        standins.conv2d_forward(np.zeros((64, 64, 64, 64)), np.zeros((64, 64, 60, 60)), np.zeros(64))
    with pytest.raises(standins.StandInError, match="do not make a convolution"):
        standins.conv2d_forward(np.zeros((1, 2, 5, 5)), np.zeros((1, 3, 3, 3)), np.zeros(1))
    with pytest.raises(standins.StandInError, match="larger than the padded input"):
        standins.conv2d_forward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), np.zeros(1))
    reply = standins.run_standin("pad2d", {}, (np.zeros((1, 1, 2, 2)), 1), {})
    assert reply["status"] == "error" and "only available while a check swaps it in" in reply["message"]


def test_the_graded_function_itself_is_never_swapped_out():
    with pytest.raises(ValueError, match="cannot be swapped out while it is graded"):
        standins.standins_for(("pad2d",), "pad2d")


def test_a_standin_kept_by_learner_code_fails_after_its_call():
    namespace: dict = {}
    exec(
        "kept = []\n"
        "def conv(x):\n    kept.append(pad2d)\n    return pad2d(x, 1)\n"
        "def pad2d(x, padding):\n    return kept[0](x, padding)\n",
        namespace,
    )
    learner = InProcessLearner(namespace)
    x = np.ones((1, 1, 2, 2))
    assert learner.call_with_standins("conv", ("pad2d",), x).shape == (1, 1, 4, 4)
    with pytest.raises(LearnerError, match="only available while a check swaps it in"):
        learner.call("pad2d", x, 1)


def test_in_the_sandbox_a_kept_standin_proxy_gets_no_result_after_its_call():
    from autograder.sandbox import SandboxedLearner

    from hostile import synthetic

    cells = [
        "import numpy as np\nkept = []\n"
        "def conv(x):\n    kept.append(pad2d)\n    return pad2d(x, 1)\n"
        "def pad2d(x, padding):\n    return kept[0](x, padding)\n"
    ]
    with SandboxedLearner(synthetic(cells)) as learner:
        x = np.ones((1, 1, 2, 2))
        np.testing.assert_array_equal(learner.call_with_standins("conv", ("pad2d",), x), np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1))))
        with pytest.raises(LearnerError, match="RuntimeError: the grader's stand-in for pad2d is only available while a check swaps it in"):
            learner.call("pad2d", x, 1)
        with pytest.raises(LearnerError, match="ValueError: pad2d: x must have 4 dimensions"):
            learner.call_with_standins("conv", ("pad2d",), np.ones(3))


def test_only_assignments_that_grade_no_standins_function_run_the_standins_in_their_child(tmp_path):
    from autograder.assignments import ASSIGNMENTS
    from autograder.isolation.policy import STANDINS_IN_CHILD, notebook_mounts
    from autograder.registry import checks_for

    for assignment in ASSIGNMENTS:
        (tmp_path / assignment.id).mkdir()
        mounts, _ = notebook_mounts(tmp_path / assignment.id / assignment.notebook, assignment)
        assert ("isolation/standins.py" in mounts.autograder_extra) == (assignment.id in STANDINS_IN_CHILD), assignment.id
    for assignment_id in STANDINS_IN_CHILD:
        graded = {c.id.split(".")[1] for c in checks_for(assignment_id, include_hidden=True)}
        assert not graded & set(standins.STANDINS), f"{assignment_id} grades {graded & set(standins.STANDINS)}: its stand-ins must stay in the grading process"
        mounts, _ = notebook_mounts(tmp_path / assignment_id / "x.ipynb", get_assignment(assignment_id))
        assert {name for _, name in mounts.folders} >= {"02-padding-stride", "03-pooling", "04-backprop"}  # it imports their layers
