"""Omega, CIS's segmentation network: ``x (B, C, H, W) in [0, 1] -> logits (B, K, H, W)`` (softmax over K).

Two variants (see :mod:`.config`):

* :class:`DeepLabResNet` -- DeepLab-v2 on a ResNet-50 (paper); as the
  authors' code: input mapped to [-1, 1], bilinearly upsampled
  ``input_upsample`` times, reflect-padded by one row/column at the bottom
  and right ("32k + 1" alignment); ResNet-v2-50 at output stride 4 (7x7 s2
  root conv, 3x3 s2 max-pool, then stride 1 with per-block atrous rates);
  a head of parallel dilated 3x3 convs to K, summed; logits resized to the
  padded size, cropped, resized to ``H x W``.
* :class:`SegNet` -- the code's small network (PC experiment): conv blocks
  with a per-channel affine (the code's BatchNorm always runs in inference
  mode with untouched statistics, i.e. it is an affine) and ELU, dilated
  middle, nearest-upsampling decoder with additive skips; logits / 10.

``TFConv2d`` pads like TensorFlow's ``SAME`` (asymmetric for even kernels
and strided convs), which the code uses everywhere.

ImageNet initialisation (:func:`load_imagenet`, config ``imagenet_checkpoint``;
the code initialises Omega from ImageNet for flying animals): a PyTorch
``state_dict`` of a ResNet in torchvision's key layout (post-activation v1.5;
no TF checkpoint or download is available here) is mapped onto the
DeepLabResNet by position: the root 7x7 conv <- ``conv1.weight``; unit ``u``
of block ``i`` <- ``layer{i+1}.{u}``: its ``conv1/2/3.weight`` and the
shortcut's weight <- ``downsample.0.weight``; with ``resnet_norm="preact"``
also the BatchNorms after conv1 and conv2 (``bn1``/``bn2``: weight, bias,
running mean and variance), which sit at the same place in both. The biases
of the loaded convs are set to 0 (torchvision's convs have none). Nothing else
is loaded: torchvision has no BatchNorm at the v2 unit inputs or after the last
unit (our ``preact``/``postnorm``; the code fills those from its v2
checkpoint), its stem ``bn1`` (before the max-pool), ``bn3``,
``downsample.1`` and ``fc`` have no counterpart here, and the head starts
from scratch. As in the code, the ``"code"`` blocks' inner convs get only
their weights. Inputs stay in [-1, 1] (the code's v2 convention, not
torchvision's mean/std normalisation).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


class TFConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow ``SAME`` padding (output side ``ceil(n / stride)``), Xavier-uniform init."""

    def __init__(self, cin, cout, kernel, stride=1, dilation=1, bias=True):
        super().__init__(cin, cout, kernel, stride=stride, dilation=dilation, padding=0, bias=bias)
        nn.init.xavier_uniform_(self.weight)
        if bias:
            nn.init.zeros_(self.bias)

    def forward(self, x):
        pads = []
        for n, k, s, d in zip(x.shape[:1:-1], self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]):
            eff = (k - 1) * d + 1
            total = max((math.ceil(n / s) - 1) * s + eff - n, 0)
            pads += [total // 2, total - total // 2]
        return super().forward(F.pad(x, pads))


# --------------------------------------------------------------------------- ResNet-50 DeepLab
class CenterBN(nn.BatchNorm2d):
    """slim's default batch norm: a shift but no scale, eps 1e-3, decay 0.999 (torch momentum 1e-3)."""

    def __init__(self, c):
        super().__init__(c, eps=1e-3, momentum=1e-3, affine=False)
        self.shift = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return super().forward(x) + self.shift[:, None, None]


class Bottleneck(nn.Module):
    """ResNet-v2 bottleneck unit at stride 1 with dilation ``rate``.

    ``norm="code"``: preact = BN(no scale) + ReLU; conv1 1x1 + bias + ReLU,
    conv2 3x3 (dilated) + bias + ReLU, conv3 1x1 + bias; shortcut = identity
    or a 1x1 conv on the preact. ``norm="preact"``: BN + ReLU before every
    conv, convs without bias (the standard pre-activation unit).
    """

    def __init__(self, cin, width, rate, norm):
        super().__init__()
        cout = 4 * width
        self.norm = norm
        code = norm == "code"
        self.preact = CenterBN(cin) if code else nn.BatchNorm2d(cin)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.conv1 = nn.Conv2d(cin, width, 1, bias=code)
        self.conv2 = nn.Conv2d(width, width, 3, padding=rate, dilation=rate, bias=code)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=True)
        if not code:
            self.bn1, self.bn2 = nn.BatchNorm2d(width), nn.BatchNorm2d(width)

    def forward(self, x):
        pre = F.relu(self.preact(x))
        short = x if self.shortcut is None else self.shortcut(pre)
        h = self.conv1(pre)
        h = F.relu(h) if self.norm == "code" else F.relu(self.bn1(h))
        h = self.conv2(h)
        h = F.relu(h) if self.norm == "code" else F.relu(self.bn2(h))
        return short + self.conv3(h)


class DeepLabResNet(nn.Module):
    def __init__(self, cin, num_masks, *, blocks=(3, 4, 6, 3), width=64, rates=(1, 2, 4, 8),
                 dilations=(2, 4, 6, 8), norm="code", upsample=2):
        super().__init__()
        self.upsample = upsample
        self.in_channels, self.blocks, self.width = cin, tuple(blocks), width
        self.root = TFConv2d(cin, 64, 7, stride=2)  # no norm / activation (resnet_v2 root)
        units = []
        prev = 64
        for i, (n, rate) in enumerate(zip(blocks, rates)):
            w = width * 2 ** i
            for _ in range(n):
                units.append(Bottleneck(prev, w, rate, norm))
                prev = 4 * w
        self.units = nn.Sequential(*units)
        self.postnorm = CenterBN(prev) if norm == "code" else nn.BatchNorm2d(prev)
        self.head = nn.ModuleList(TFConv2d(prev, num_masks, 3, dilation=d) for d in dilations)

    def forward(self, x):
        h, w = x.shape[2:]
        x = x * 2 - 1
        if self.upsample > 1:
            x = F.interpolate(x, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        x = F.pad(x, (0, 1, 0, 1), mode="reflect")
        ph, pw = x.shape[2:]
        f = self.root(x)
        f = F.max_pool2d(F.pad(f, _same_pool_pad(f, 3, 2), value=-math.inf), 3, 2)
        f = F.relu(self.postnorm(self.units(f)))
        logits = sum(conv(f) for conv in self.head)
        logits = F.interpolate(logits, size=(ph, pw), mode="bilinear", align_corners=False)[:, :, :-1, :-1]
        if logits.shape[2:] != (h, w):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        return logits


def _same_pool_pad(x, k, s):
    pads = []
    for n in x.shape[:1:-1]:
        total = max((math.ceil(n / s) - 1) * s + k - n, 0)
        pads += [total // 2, total - total // 2]
    return pads


# --------------------------------------------------------------------------- SegNet
class Affine(nn.Module):
    """Per-channel scale and shift (the code's inference-mode BatchNorm: scale 1 / sqrt(1 + 1e-3) at init)."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.full((c,), 1 / math.sqrt(1.001)))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x):
        return x * self.weight[:, None, None] + self.bias[:, None, None]


class GenConv(nn.Module):
    """TF-SAME conv -> affine -> ELU (``act=False``: no ELU)."""

    def __init__(self, cin, cout, k, s=1, d=1, act=True):
        super().__init__()
        self.conv, self.norm, self.act = TFConv2d(cin, cout, k, s, d), Affine(cout), act

    def forward(self, x):
        h = self.norm(self.conv(x))
        return F.elu(h) if self.act else h


class SegNet(nn.Module):
    def __init__(self, cin, num_masks, c=64, logit_scale=0.1):
        super().__init__()
        self.logit_scale = logit_scale
        self.c1, self.c2, self.c3 = GenConv(cin, c, 5), GenConv(c, 2 * c, 3, 2), GenConv(2 * c, 2 * c, 3)
        self.c4, self.c5, self.c6 = GenConv(2 * c, 4 * c, 3, 2), GenConv(4 * c, 4 * c, 3), GenConv(4 * c, 4 * c, 3)
        self.dil = nn.Sequential(*(GenConv(4 * c, 4 * c, 3, d=r) for r in (2, 4, 8, 16)))
        self.c11, self.c12 = GenConv(4 * c, 4 * c, 3), GenConv(4 * c, 4 * c, 3)
        self.up13, self.c14 = GenConv(4 * c, 2 * c, 3), GenConv(2 * c, 2 * c, 3)
        self.up15, self.c16 = GenConv(2 * c, c, 3), GenConv(c, c // 2 or 1, 3)
        self.c17 = GenConv(c // 2 or 1, num_masks, 3, act=False)

    @staticmethod
    def _up(x, size):
        return F.interpolate(x, size=size, mode="nearest")

    def forward(self, x):
        x0 = self.c1(x)
        x1 = self.c3(self.c2(x0))
        x2 = self.c6(self.c5(self.c4(x1)))
        h = self.c11(self.dil(x2)) + x2
        h = self.c12(h)
        h = self.c14(self.up13(self._up(h, x1.shape[2:]))) + x1
        h = self.up15(self._up(h, x0.shape[2:])) + x0
        return self.c17(self.c16(h)) * self.logit_scale


# --------------------------------------------------------------------------- ImageNet initialisation
TORCHVISION_KEYS = ("a torchvision ResNet state_dict (conv1.weight, layer1.0.conv1.weight, ..., "
                    "layerN.0.downsample.0.weight)")


def imagenet_mapping(net: DeepLabResNet) -> list[tuple[str, str]]:
    """``(torchvision key, our parameter/buffer name)`` pairs that :func:`load_imagenet` copies (module docstring)."""
    pairs = [("conv1.weight", "root.weight")]
    j = 0
    for i, n in enumerate(net.blocks):
        for u in range(n):
            src, dst = f"layer{i + 1}.{u}", f"units.{j}"
            unit = net.units[j]
            pairs += [(f"{src}.conv{c}.weight", f"{dst}.conv{c}.weight") for c in (1, 2, 3)]
            if unit.shortcut is not None:
                pairs.append((f"{src}.downsample.0.weight", f"{dst}.shortcut.weight"))
            if unit.norm == "preact":
                pairs += [(f"{src}.bn{c}.{t}", f"{dst}.bn{c}.{t}") for c in (1, 2)
                          for t in ("weight", "bias", "running_mean", "running_var")]
            j += 1
    return pairs


def load_imagenet(net: DeepLabResNet, path) -> list[str]:
    """Copy ImageNet weights from the torchvision-layout ``state_dict`` file ``path`` onto ``net`` (module
    docstring); returns the names filled. A missing/unreadable file, a missing key or a shape mismatch is a
    :class:`~scenebench.errors.ConfigError` (checked before anything is copied)."""
    from scenebench.errors import ConfigError

    where = f"imagenet_checkpoint {path}"
    expected = f"expected {TORCHVISION_KEYS} matching resnet_blocks={tuple(net.blocks)}"
    if not Path(path).is_file():
        from scenebench.errors import AssetError

        raise AssetError(f"{where}: no such file; {expected}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 -- truncated or foreign file
        raise ConfigError(f"{where}: not a readable PyTorch file ({type(exc).__name__}); {expected}") from None
    if not isinstance(state, dict):
        raise ConfigError(f"{where}: holds a {type(state).__name__}, not a state_dict; {expected}")
    own = dict(net.named_parameters())
    own.update(net.named_buffers())
    pairs = imagenet_mapping(net)
    for src, dst in pairs:
        t = state.get(src)
        if not isinstance(t, torch.Tensor):
            raise ConfigError(f"{where}: has no tensor {src!r}; {expected}")
        if tuple(t.shape) != tuple(own[dst].shape):
            raise ConfigError(f"{where}: {src} has shape {tuple(t.shape)}, expected {tuple(own[dst].shape)} "
                              f"(for {dst} of a {net.in_channels}-channel ResNet with resnet_blocks="
                              f"{tuple(net.blocks)}, resnet_width={net.width})")
    with torch.no_grad():
        for src, dst in pairs:
            own[dst].copy_(state[src].to(own[dst].dtype))
            bias = dst.rsplit(".", 1)[0] + ".bias"
            if dst.endswith(".weight") and ".bn" not in dst and own.get(bias) is not None:
                own[bias].zero_()  # torchvision's convs have no bias
    return [dst for _, dst in pairs]


def build_segmenter(config, channels: int, pretrained: bool = True) -> nn.Module:
    """Omega from the config; ``pretrained``: fill the ResNet from ``imagenet_checkpoint`` (a model being
    restored from a checkpoint passes False: its own weights replace these)."""
    c = config
    if c.segmenter == "segnet":
        return SegNet(channels, c.num_masks, c.segnet_channels, c.segnet_logit_scale)
    if pretrained and c.imagenet_init and not c.imagenet_checkpoint:
        from scenebench.errors import AssetError

        raise AssetError("this config initialises the ResNet from ImageNet (imagenet_init=true) but "
                          "imagenet_checkpoint is empty: pass --set imagenet_checkpoint=PATH (a torchvision "
                          "ResNet-50 state_dict .pth) or --set imagenet_init=false to train from scratch")
    net = DeepLabResNet(channels, c.num_masks, blocks=tuple(c.resnet_blocks), width=c.resnet_width,
                        rates=tuple(c.atrous_rates), dilations=tuple(c.aspp_dilations), norm=c.resnet_norm,
                        upsample=c.input_upsample)
    if pretrained and c.imagenet_checkpoint:
        load_imagenet(net, c.imagenet_checkpoint)
    return net
