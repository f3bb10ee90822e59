"""CIS's per-object VAE: appearance and shape encoders/decoders, a background VAE and the fusion nets.

As the authors' code (Burgess et al.'s beta-VAE layout, no normalisation,
Xavier init, zero biases):

* encoder: four 4x4 stride-2 TF-SAME convs (``channels`` wide, ReLU),
  flatten, FC ``hidden`` + ReLU twice, linear heads ``mu`` and ``log var``;
* decoder: FC ``hidden`` + ReLU, FC to ``(H/16)(W/16) channels`` + ReLU,
  three (bilinear x2, 4x4 conv, leaky ReLU 0.2), bilinear to ``H x W``, a
  4x4 conv to logits;
* ``object_fusion``: (sigmoid appearance, sigmoid mask) -> three 4x4 convs
  (ReLU, ReLU, sigmoid) -> the object's image;
* ``global_fusion``: the objects' fused images and the background decoding
  times ``1 - sum`` of the decoded masks -> four 4x4 convs (ReLU x 3,
  sigmoid) -> the whole image.

The appearance (texture) and shape (mask) VAEs are shared across the
foreground slots. ``forward(op, *args)`` dispatches to the pieces so that
the model can run the whole VAE with detached parameters
(``torch.func.functional_call``) when it is frozen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .segmentation import TFConv2d


def _linear(cin, cout):
    lin = nn.Linear(cin, cout)
    nn.init.xavier_uniform_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


class Encoder(nn.Module):
    def __init__(self, cin, height, width, latent, channels=32, hidden=256):
        super().__init__()
        convs, prev = [], cin
        h, w = height, width
        for _ in range(4):
            convs.append(TFConv2d(prev, channels, 4, 2))
            prev = channels
            h, w = -(-h // 2), -(-w // 2)
        self.convs = nn.ModuleList(convs)
        self.fc = nn.Sequential(_linear(channels * h * w, hidden), nn.ReLU(), _linear(hidden, hidden), nn.ReLU())
        self.mu, self.logvar = _linear(hidden, latent), _linear(hidden, latent)

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))
        h = self.fc(x.flatten(1))
        return self.mu(h), self.logvar(h)


class Decoder(nn.Module):
    def __init__(self, latent, cout, height, width, channels=32, hidden=256):
        super().__init__()
        self.size = (height, width)
        self.base = (channels, -(-height // 16), -(-width // 16))
        self.fc = nn.Sequential(_linear(latent, hidden), nn.ReLU(),
                                _linear(hidden, channels * self.base[1] * self.base[2]), nn.ReLU())
        self.convs = nn.ModuleList(TFConv2d(channels, channels, 4) for _ in range(3))
        self.out = TFConv2d(channels, cout, 4)

    def forward(self, z):
        h = self.fc(z).view(len(z), *self.base)
        for conv in self.convs:
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
            h = F.leaky_relu(conv(h), 0.2)
        return self.out(F.interpolate(h, size=self.size, mode="bilinear", align_corners=False))


class FusionNet(nn.Sequential):
    """4x4 TF-SAME convs, ReLU between, sigmoid at the end."""

    def __init__(self, cin, cout, channels, layers):
        mods, prev = [], cin
        for i in range(layers):
            last = i == layers - 1
            mods += [TFConv2d(prev, cout if last else channels, 4), nn.Sigmoid() if last else nn.ReLU()]
            prev = channels
        super().__init__(*mods)


class ObjectVAE(nn.Module):
    def __init__(self, channels, height, width, num_fg, appearance_dim, mask_dim, background_dim, conv=32,
                 hidden=256):
        super().__init__()
        c = channels
        self.enc_app, self.dec_app = Encoder(c, height, width, appearance_dim, conv, hidden), \
            Decoder(appearance_dim, c, height, width, conv, hidden)
        self.enc_mask, self.dec_mask = Encoder(1, height, width, mask_dim, conv, hidden), \
            Decoder(mask_dim, 1, height, width, conv, hidden)
        self.enc_bg, self.dec_bg = Encoder(c, height, width, background_dim, conv, hidden), \
            Decoder(background_dim, c, height, width, conv, hidden)
        self.object_fusion = FusionNet(c + 1, c, conv, 3)
        self.global_fusion = FusionNet(c * (num_fg + 1), c, conv, 4)

    def forward(self, op: str, *args):
        return getattr(self, op)(*args)

    def encode(self, x, fg, bg):
        """``x (B, C, H, W)``, foreground masks ``fg (B, F, H, W)``, background mask ``bg (B, 1, H, W)`` ->
        ``(mu, logvar)`` of appearance ``(B, F, Da)``, shape ``(B, F, Dm)`` and background ``(B, Db)``."""
        b, f = fg.shape[:2]
        app = self.enc_app((x[:, None] * fg[:, :, None]).flatten(0, 1))
        shape = self.enc_mask(fg.reshape(b * f, 1, *fg.shape[2:]))
        back = self.enc_bg(x * bg)
        return tuple(t.view(b, f, -1) for t in app), tuple(t.view(b, f, -1) for t in shape), back

    def decode(self, z_app, z_mask, z_bg):
        """Latents -> appearance logits ``(B, F, C, H, W)``, mask logits ``(B, F, H, W)``, background logits."""
        b, f = z_app.shape[:2]
        app = self.dec_app(z_app.flatten(0, 1))
        mask = self.dec_mask(z_mask.flatten(0, 1))
        return app.view(b, f, *app.shape[1:]), mask.view(b, f, *mask.shape[2:]), self.dec_bg(z_bg)

    def fuse(self, app, mask, bg, detach: bool = False):
        """Decoded appearance/mask/background probabilities -> per-object images ``(B, F, C, H, W)`` and the
        whole image ``(B, C, H, W)``. ``detach``: the fusion nets get no gradient path into the decoders
        (the code's per-scope training)."""
        if detach:
            app, mask, bg = app.detach(), mask.detach(), bg.detach()
        b, f = app.shape[:2]
        obj = self.object_fusion(torch.cat([app, mask[:, :, None]], 2).flatten(0, 1)).view(b, f, *app.shape[2:])
        rest = (1 - mask.sum(1, keepdim=True)).clamp(min=0)
        obj_in = obj.detach() if detach else obj
        whole = self.global_fusion(torch.cat([obj_in.flatten(1, 2), bg * rest], 1))
        return obj, whole
