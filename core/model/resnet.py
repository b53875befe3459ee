"""ResNet-18/34/50 trunks built as torchvision builds them (same module names, shapes and seeded initialisation),
without importing torchvision.

Importing torchvision imports all of its models and ops, and its ops import torch._dynamo: about 3 s of a cold
start on 2 cores, half of a cold `explain` (issue #33). The shipped models are ResNets, so they are built here;
the other architectures still come from torchvision (core.model.network). A weights file is the same either way:
tests/test_model.py checks that the state dict and the output equal torchvision's for the same seed.
"""

from __future__ import annotations

from torch import Tensor, nn

# blocks per stage and the block type of each depth, as torchvision.models.resnet{18,34,50}
DEPTHS = {"resnet18": ("basic", (2, 2, 2, 2)), "resnet34": ("basic", (3, 4, 6, 3)),
          "resnet50": ("bottleneck", (3, 4, 6, 3))}
IMAGENET_CLASSES = 1000  # torchvision's classifier size: built (and discarded by the trunk) to keep its seeding


def _conv3x3(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(inputs: int, outputs: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inputs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(inputs, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inputs: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(inputs, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)  # the stride on the 3x3 convolution (ResNet v1.5)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """The network of torchvision.models.resnet{18,34,50}(weights=None): modules created, then initialised, in
    torchvision's order, so one seed gives the same weights in both."""

    def __init__(self, depth: str):
        super().__init__()
        kind, blocks = DEPTHS[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.inputs = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._stage(block, 64, blocks[0])
        self.layer2 = self._stage(block, 128, blocks[1], stride=2)
        self.layer3 = self._stage(block, 256, blocks[2], stride=2)
        self.layer4 = self._stage(block, 512, blocks[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, IMAGENET_CLASSES)
        for module in self.modules():
            weight = getattr(module, "weight", None)
            if isinstance(weight, Tensor) and weight.is_meta:
                continue  # no values to initialise; and normal_ on the meta device imports torch._dynamo
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def _stage(self, block, planes: int, count: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inputs != planes * block.expansion:
            downsample = nn.Sequential(_conv1x1(self.inputs, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inputs, planes, stride, downsample)]
        self.inputs = planes * block.expansion
        layers += [block(self.inputs, planes) for _ in range(1, count)]
        return nn.Sequential(*layers)
