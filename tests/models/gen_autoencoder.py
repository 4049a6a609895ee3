#!/usr/bin/python3
"""Golden fixture for the autoencoder (tests/models/test_autoencoder.c,
src/models/autoencoder.c):
    /usr/bin/python3 tests/models/gen_autoencoder.py
writes tests/fixtures/models/autoencoder.safetensors.

The module below has the C model's names (features = cnn3's encoder,
decoder = the mirrored upsampling stack). Weights are filled by the shared
zoo rule (zoo_golden.fill_; the C test applies zoo_fill), the reference
runs in float64. zoo_golden.make_fixture's sequence with labels None, i.e.
the mean squared error against the input in place of cross-entropy:
  a: train forward of x1 (2, 1, 16, 24), MSE, backward
     -> a.recon, a.loss, a.grad.<param>, a.<buffer>
  b: eval forward of x1 -> b.recon
  d: 3 AdamW steps on x1 (lr 1e-3, weight decay 1e-2 on >= 2-D weights)
     -> d.losses, d.<param>, d.<buffer>
"""
import os

import torch
import torch.nn as nn

import zoo_golden

HERE = os.path.dirname(os.path.abspath(__file__))


def conv_bn_relu(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


class AutoEncoder(nn.Module):
    def __init__(self, channels=1):
        super().__init__()
        enc, c = [], channels
        for w in (32, 64, 128):  # cnn3's features
            enc += conv_bn_relu(c, w) + [nn.MaxPool2d(2)]
            c = w
        dec = []
        for w in (64, 32, 32):
            dec += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)]
            dec += conv_bn_relu(c, w)
            c = w
        dec.append(nn.Conv2d(c, channels, 3, padding=1))
        self.features = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)

    def forward(self, x):
        return self.decoder(self.features(x))


def main():
    torch.manual_seed(8)
    x1 = torch.randn(2, 1, 16, 24)
    zoo_golden.make_fixture(os.path.join(HERE, "..", "fixtures", "models", "autoencoder.safetensors"),
                            AutoEncoder(), x1, None)


if __name__ == "__main__":
    main()
