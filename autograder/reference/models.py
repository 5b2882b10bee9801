"""The PyTorch reference networks whose trained weights the learners' NumPy networks load.

All take normalized MNIST images (N, 1, 28, 28) (see :func:`autograder.data.normalize`) and
return logits (N, 10) (``LeNet5Digits04``: (N, 5), for the digits 0-4). Layers are named attributes, not ``nn.Sequential`` indices, so the
``state_dict`` keys below are stable and read as the architecture does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5 with ReLU and max pooling, for 28x28 MNIST.

    Forward, with shapes for a batch of N images::

        x (N, 1, 28, 28)
        conv1 5x5, padding 2 -> ReLU -> max pool 2   (N, 6, 14, 14)
        conv2 5x5, no padding -> ReLU -> max pool 2  (N, 16, 5, 5)
        flatten in (C, H, W) order                   (N, 400)      torch.flatten(x, 1)
        fc1 -> ReLU                                  (N, 120)
        fc2 -> ReLU                                  (N, 84)
        fc3                                          (N, 10) logits

    State dict (convolutions are cross-correlations with weights (O, C, kh, kw); linear layers
    compute ``x @ weight.T + bias``):

        conv1.weight (6, 1, 5, 5)    conv1.bias (6,)
        conv2.weight (16, 6, 5, 5)   conv2.bias (16,)
        fc1.weight (120, 400)        fc1.bias (120,)
        fc2.weight (84, 120)         fc2.bias (84,)
        fc3.weight (10, 84)          fc3.bias (10,)

    61,706 parameters (with ``classes=10``).
    """

    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, kernel_size=5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, kernel_size=5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10) for normalized images x (N, 1, 28, 28)."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class LeNet5Digits04(LeNet5):
    """LeNet-5 for the digits 0-4 only: the feature extractor of assignment 07's transfer learning.

    The layers and state-dict keys of :class:`LeNet5`, but ``fc3`` maps the 84 features to 5
    logits (N, 5), logit k for digit k; ``fc3.weight`` is (5, 84), ``fc3.bias`` (5,). Trained on
    the MNIST training images of 0-4 only, so digits 5-9 are classes its features never saw.

    61,281 parameters.
    """

    def __init__(self) -> None:
        super().__init__(classes=5)


class MiniVGG(nn.Module):
    """A two-block VGG: stacks of 3x3 convolutions (padding 1) then 2x2 max pooling.

    Forward, with shapes for a batch of N images::

        x (N, 1, 28, 28)
        block1_conv1 -> ReLU -> block1_conv2 -> ReLU -> max pool 2   (N, 16, 14, 14)
        block2_conv1 -> ReLU -> block2_conv2 -> ReLU -> max pool 2   (N, 32, 7, 7)
        flatten in (C, H, W) order                                   (N, 1568)
        fc1 -> ReLU -> dropout (p=0.5, training only)                (N, 128)
        fc2                                                          (N, 10) logits

    State dict:

        block1_conv1.weight (16, 1, 3, 3)    block1_conv1.bias (16,)
        block1_conv2.weight (16, 16, 3, 3)   block1_conv2.bias (16,)
        block2_conv1.weight (32, 16, 3, 3)   block2_conv1.bias (32,)
        block2_conv2.weight (32, 32, 3, 3)   block2_conv2.bias (32,)
        fc1.weight (128, 1568)               fc1.bias (128,)
        fc2.weight (10, 128)                 fc2.bias (10,)

    218,490 parameters.
    """

    def __init__(self, dropout: float = 0.5) -> None:
        super().__init__()
        self.block1_conv1 = nn.Conv2d(1, 16, kernel_size=3, padding=1)
        self.block1_conv2 = nn.Conv2d(16, 16, kernel_size=3, padding=1)
        self.block2_conv1 = nn.Conv2d(16, 32, kernel_size=3, padding=1)
        self.block2_conv2 = nn.Conv2d(32, 32, kernel_size=3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, 10) for normalized images x (N, 1, 28, 28)."""
        x = F.relu(self.block1_conv1(x))
        x = F.max_pool2d(F.relu(self.block1_conv2(x)), 2)
        x = F.relu(self.block2_conv1(x))
        x = F.max_pool2d(F.relu(self.block2_conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


MODELS: dict[str, type[nn.Module]] = {"lenet5": LeNet5, "lenet5_digits04": LeNet5Digits04, "minivgg": MiniVGG}
