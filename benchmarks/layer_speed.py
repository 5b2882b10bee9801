"""3. Layer speed: the course's NumPy layers against PyTorch on the CPU.

The layers are the solutions' own functions (:func:`autograder.notebook.solution_functions`),
in float32 like PyTorch's defaults. Backward passes are timed alone: PyTorch's
``torch.autograd.grad`` on a graph built once, the NumPy layer on (dout, inputs), as the
course's API takes inputs instead of a cache. Then the whole NumPy LeNet-5 (05's
``lenet5_forward`` on the course's layers) against the reference model on the 10,000 MNIST test
images, with their predictions compared.
"""

from __future__ import annotations

import argparse
import inspect
import pickle
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from measure import affordable_repeats, compare, course_env, ratios, run_command, timed
from results import Goal, Section, Table

FORWARD_GOAL = 3.0
BACKWARD_GOAL = 5.0
LENET_BATCH = 1000
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@dataclass(frozen=True)
class Case:
    """One layer call: op name, size label, input shape, kernel shape (conv) or pool size."""

    op: str
    size: str
    x: tuple[int, ...]
    w: tuple[int, ...] | None = None
    padding: int = 0
    pool: int = 2

    @property
    def backward(self) -> bool:
        return self.op.endswith("backward")

    def shapes(self) -> str:
        if self.w is None:
            return f"{self.x} pool {self.pool}x{self.pool}"
        return f"{self.x} {self.w[0]}@{self.w[2]}x{self.w[3]} pad {self.padding}"


def cases(quick: bool) -> list[Case]:
    # The NumPy conv backward is slow at VGG sizes (see RESULTS.md), so its VGG input is 16x16;
    # --quick shrinks the VGG batch too.
    vgg_n = 16 if quick else 64
    lenet = [
        ("LeNet conv1", (64, 1, 28, 28), (6, 1, 5, 5), 2),
        ("LeNet conv2", (64, 6, 14, 14), (16, 6, 5, 5), 0),
        ("VGG block", (vgg_n, 64, 16, 16), (64, 64, 3, 3), 1),
    ]
    out = [Case(op, size, x, w, p) for op in ("conv2d_forward", "conv2d_backward") for size, x, w, p in lenet]
    pools = [("LeNet pool1", (64, 6, 28, 28)), ("VGG block", (vgg_n, 64, 32, 32))]
    out += [Case(op, size, x) for op in ("maxpool2d_forward", "maxpool2d_backward") for size, x in pools]
    return out


def layer_functions() -> dict[str, Callable[..., Any]]:
    from autograder.notebook import solution_functions

    return {
        "conv2d_forward": solution_functions("02-padding-stride", ["conv2d_forward"])["conv2d_forward"],
        "maxpool2d_forward": solution_functions("03-pooling", ["maxpool2d_forward"])["maxpool2d_forward"],
        **solution_functions("04-backprop", ["conv2d_backward", "maxpool2d_backward"]),
    }


def callables(case: Case, numpy_layers: dict[str, Callable[..., Any]], rng: np.random.Generator) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """(NumPy call, PyTorch call) for one case, on the same float32 data."""
    import torch
    import torch.nn.functional as F

    x = rng.standard_normal(case.x, dtype=np.float32)
    tx = torch.from_numpy(x).requires_grad_(case.backward)
    if case.w is not None:
        w = rng.standard_normal(case.w, dtype=np.float32) / float(np.sqrt(np.prod(case.w[1:])))
        b = rng.standard_normal(case.w[0], dtype=np.float32)
        tw, tb = (torch.from_numpy(a).requires_grad_(case.backward) for a in (w, b))
        if not case.backward:
            return (lambda: numpy_layers["conv2d_forward"](x, w, b, padding=case.padding),
                    lambda: F.conv2d(tx, tw, tb, padding=case.padding))
        ty = F.conv2d(tx, tw, tb, padding=case.padding)
        dout = rng.standard_normal(tuple(ty.shape), dtype=np.float32)
        tdout = torch.from_numpy(dout)
        return (lambda: numpy_layers["conv2d_backward"](dout, x, w, b, padding=case.padding),
                lambda: torch.autograd.grad(ty, (tx, tw, tb), tdout, retain_graph=True))
    if not case.backward:
        return (lambda: numpy_layers["maxpool2d_forward"](x, case.pool), lambda: F.max_pool2d(tx, case.pool))
    ty = F.max_pool2d(tx, case.pool)
    dout = rng.standard_normal(tuple(ty.shape), dtype=np.float32)
    tdout = torch.from_numpy(dout)
    return (lambda: numpy_layers["maxpool2d_backward"](dout, x, case.pool),
            lambda: torch.autograd.grad(ty, tx, tdout, retain_graph=True))


def first_calls(numpy_call: Callable[[], Any], torch_call: Callable[[], Any]) -> tuple[float, dict[str, float]]:
    """Call each once: (largest difference of the results relative to their scale, seconds of
    each call). The comparison makes sure a timing is of code that computes the right thing."""
    got, numpy_seconds = timed(numpy_call)
    expected, torch_seconds = timed(torch_call)
    got = got if isinstance(got, tuple) else (got,)
    expected = expected if isinstance(expected, tuple) else (expected,)
    diff = 0.0
    for g, e in zip(got, expected):
        e = e.detach().numpy()
        diff = max(diff, float(np.max(np.abs(g - e)) / max(1.0, float(np.max(np.abs(e))))))
    return diff, {"numpy": numpy_seconds, "torch": torch_seconds}


def layer_table(quick: bool, section: Section) -> None:
    numpy_layers = layer_functions()
    rng = np.random.default_rng(0)
    repeats, budget = (2, 3.0) if quick else (5, 40.0)
    table = Table("Milliseconds per call, float32, one thread each", ["op", "size", "input", "NumPy (course)", "PyTorch", "NumPy / PyTorch", "goal", "max rel. diff"])
    measured: list[tuple[Case, float]] = []
    for case in cases(quick):
        numpy_call, torch_call = callables(case, numpy_layers, rng)
        diff, once = first_calls(numpy_call, torch_call)
        # the slowest NumPy calls take seconds each; fewer repeats keep the run within budget
        rounds = affordable_repeats(sum(once.values()), repeats, budget)
        times = compare({"numpy": numpy_call, "torch": torch_call}, rounds, once=once)
        ratio = ratios(times["numpy"].values, times["torch"].values)
        goal = BACKWARD_GOAL if case.backward else FORWARD_GOAL
        table.add(case.op, case.size, case.shapes(), times["numpy"].format(" ms", 1e3), times["torch"].format(" ms", 1e3), ratio.format("x"), f"<= {goal:g}x", f"{diff:.0e}")
        measured.append((case, ratio.median))
    section.tables.append(table)
    for backward, goal in ((False, FORWARD_GOAL), (True, BACKWARD_GOAL)):
        mine = [(case, ratio) for case, ratio in measured if case.backward == backward]
        slow = [(case, ratio) for case, ratio in mine if ratio > goal]
        worst_case, worst = max(mine, key=lambda m: m[1])
        reasons = {case.op: why(case.op, numpy_layers[case.op]) for case, _ in slow}
        section.goals.append(Goal(
            f"NumPy {'backward' if backward else 'forward'} layers vs PyTorch", f"<= {goal:g}x each",
            f"worst {worst:.1f}x ({worst_case.op}, {worst_case.size})", not slow,
            f"{len(slow)} of {len(mine)} ops miss it ({', '.join(f'{c.op} {c.size} {r:.1f}x' for c, r in slow)}). "
            + " ".join(f"{op}: {text}" for op, text in reasons.items()),
        ))


# Why a course layer is slower than PyTorch's, and what would fix it, from profiling the solutions
# one thread at a time: (op, a marker in the layer's source the diagnosis depends on, text). The
# first entry whose marker is in the source applies, so a rewritten layer is never explained by
# its old code.
DIAGNOSES: tuple[tuple[str, str, str], ...] = (
    ("conv2d_forward", "tensordot(",
     "np.tensordot copies the sliding-window view into an im2col matrix (kh*kw times the input; most of the time at LeNet "
     "sizes), then runs a thin matrix product (6 or 16 output channels) far below the BLAS's peak, while oneDNN convolves "
     "directly; the gap closes as the channels grow (VGG block). Fix: none that keeps the layer a few readable lines of "
     "NumPy; the copy is the price of im2col."),
    ("maxpool2d_forward", ".max(axis=(-2, -1))",
     "`.max(axis=(-2, -1))` over the strided six-axis window view is NumPy's generic reduction over two tiny axes. Fix: the "
     "element-wise maximum of the kh*kw strided slices (np.maximum over x[:, :, i::s, j::s]), about 10x faster at the VGG "
     "size in a measurement during development."),
    ("conv2d_backward", "optimize=True",
     "both einsums copy a window view into an im2col matrix (of the padded dout for dx, of the padded input for dw) before "
     "their BLAS product, and dx and dw each take about half the time; PyTorch's oneDNN backward kernels need no copy. "
     "Fix: none that keeps the layer readable; the copies are the price of im2col."),
    ("conv2d_backward", "einsum(",
     "np.einsum without optimize=True on six-axis window views runs NumPy's generic C loop instead of a BLAS matrix "
     "product. Fix: einsum(..., optimize=True) or np.tensordot; during development optimize=True took the VGG block from "
     "16.7 s to 0.35 s and LeNet conv2 from 348 ms to 36 ms (one thread)."),
    ("maxpool2d_backward", "argmax(",
     "it recomputes every window's argmax from x (the course's API passes the forward's inputs, not PyTorch's saved "
     "indices) and scatters with kh*kw strided additions, where PyTorch does one scatter through the indices. Measured "
     "during development (float32, one thread): a running comparison over the kh*kw strided slices is at most 1.8x "
     "faster, and the mask x == the upsampled maximum (first maximum of a tie kept) is 2-3x slower; each NumPy pass over "
     "strided views costs about what PyTorch's whole backward does. Fix: an API change the course does not make, the "
     "forward returning its argmax indices as a cache; np.put_along_axis through saved indices took 0.72 ms and 11 ms, "
     "3-6x PyTorch's time."),
)


def why(op: str, function: Callable[..., Any]) -> str:
    """The diagnosis of :data:`DIAGNOSES` that fits ``op``'s current source."""
    source = inspect.getsource(function)
    for name, marker, text in DIAGNOSES:
        if name == op and marker in source:
            return text
    return "no diagnosis for this version of the solution yet; profile it at the sizes in the table."


def lenet_forward(quick: bool, section: Section) -> None:
    import torch

    from autograder.data import load_mnist, normalize
    from autograder.notebook import solution_functions
    from autograder.reference import load, load_numpy

    count = 1000 if quick else 10000
    repeats = 1 if quick else 3
    images, labels = load_mnist("test")
    x = normalize(images[:count])  # float32
    params = {key: value.astype(np.float32) for key, value in load_numpy("lenet5").items()}
    forward = solution_functions("05-architectures", ["lenet5_forward"])["lenet5_forward"]
    model = load("lenet5").eval()
    tx = torch.from_numpy(x)

    def numpy_logits() -> np.ndarray:
        return np.concatenate([forward(params, x[i:i + LENET_BATCH]) for i in range(0, count, LENET_BATCH)])

    def torch_logits() -> np.ndarray:
        with torch.inference_mode():
            return torch.cat([model(tx[i:i + LENET_BATCH]) for i in range(0, count, LENET_BATCH)]).numpy()

    (ours, numpy_once), (reference, torch_once) = timed(numpy_logits), timed(torch_logits)
    times = compare({"numpy": numpy_logits, "torch": torch_logits}, repeats, once={"numpy": numpy_once, "torch": torch_once})
    ratio = ratios(times["numpy"].values, times["torch"].values)
    agree = int(np.sum(ours.argmax(axis=1) == reference.argmax(axis=1)))
    accuracy = {name: float(np.mean(logits.argmax(axis=1) == labels[:count])) for name, logits in (("numpy", ours), ("torch", reference))}
    table = Table(f"LeNet-5 forward on {count:,} MNIST test images (batches of {LENET_BATCH}, float32)",
                  ["implementation", "seconds", "images/s", "test accuracy"])
    table.add("NumPy: 05 lenet5_forward with the course's layers", times["numpy"].format(), f"{count / times['numpy'].median:,.0f}", f"{accuracy['numpy']:.4f}")
    table.add("PyTorch: reference LeNet5 (autograder.reference.load)", times["torch"].format(), f"{count / times['torch'].median:,.0f}", f"{accuracy['torch']:.4f}")
    table.add("NumPy / PyTorch", ratio.format("x"), "", "")
    section.tables.append(table)
    section.goals.append(Goal(
        "NumPy LeNet-5 predictions = PyTorch's", "all equal", f"{agree:,}/{count:,} equal (max |logit diff| {np.max(np.abs(ours - reference)):.1e})", agree == count,
        "float32 rounding flips images whose two top logits are nearly tied; compare in float64 (as the 05 checks do) to confirm.",
    ))


def measure(quick: bool) -> Section:
    """The measurements; run by :func:`run` in a process limited to one thread."""
    import torch

    torch.set_num_threads(1)
    section = Section(
        "3. Layer speed",
        "The solutions' NumPy layers (extracted with `autograder.notebook.solution_functions`) against "
        "`torch.nn.functional` and autograd on the CPU, interleaved call by call, one thread each; then the full NumPy LeNet-5.",
    )
    layer_table(quick, section)
    lenet_forward(quick, section)
    section.notes += [
        "One thread each (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)): a per-core comparison. On this "
        "shared 2-core machine two threads are unreliable: when the second thread is descheduled, BLAS and oneDNN wait for it "
        "(during development the same 6400x150 @ 150x16 float32 matmul took 0.5 ms in one run and 12 ms in the next). "
        "On an idle machine, two threads could make either side at most 2x faster.",
        "Backward: PyTorch's time is autograd.grad on a graph built once (the backward kernels only); the NumPy time is the "
        "course's backward function, which recomputes what it needs from its inputs.",
        "`max rel. diff`: largest |NumPy - PyTorch| over the outputs (all gradients for backward), divided by max(1, max |PyTorch|).",
    ]
    if quick:
        section.notes.append("--quick: VGG batch 16 instead of 64, fewer repeats, LeNet-5 on 1,000 images once.")
    return section


def run(quick: bool) -> Section:
    """:func:`measure` in a child process whose BLAS and OpenMP are limited to one thread
    (they read that setting only when they load)."""
    with tempfile.TemporaryDirectory(prefix="cnn-bench-layers-") as tmp:
        out = Path(tmp) / "section.pickle"
        command = [sys.executable, __file__, "--output", str(out), *(["--quick"] if quick else [])]
        result = run_command(command, env=course_env(**ONE_THREAD), timeout=1200)
        if result.returncode != 0 or not out.exists():
            raise RuntimeError(f"the layer benchmark exited {result.returncode}:\n{result.tail()}")
        return pickle.loads(out.read_bytes())


def main() -> int:
    parser = argparse.ArgumentParser(description="Layer speed benchmark (run by benchmarks/run.py in a one-thread process).")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, required=True, help="where the pickled Section goes")
    args = parser.parse_args()
    args.output.write_bytes(pickle.dumps(measure(args.quick)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
