#!/usr/bin/python3
"""Golden fixtures for resnet18 / resnet34 (tests/models/test_resnet.c)
against torchvision's ResNet, through the shared zoo harness
(tests/models/zoo_golden.py):
    /usr/bin/python3 tests/models/gen_resnet.py
writes tests/fixtures/models/resnet18_c1.safetensors, resnet18_c3_mlp.safetensors
resnet34_c1.safetensors, resnet18_c1_meanstd.safetensors and
resnet18_c1_attention.safetensors.

  resnet18_c1      model.channels 1: torchvision's resnet18 with conv1 replaced
                   by Conv2d(1, 64, 7, 2, 3, bias=False); input (4, 1, 64, 64),
                   so layer4 is 2 x 2 and BN there averages 16 values.
  resnet18_c3_mlp  model.channels 3, model.image_size 32, model.head mlp (16, 8):
                   torchvision's exact resnet18 with fc = Sequential(Linear(512, 16),
                   BatchNorm1d, ReLU, Dropout(0), Linear(16, 8), BatchNorm1d, ReLU,
                   Dropout(0), Linear(8, L)); the (8, 1, 20, 28) input goes
                   through F.interpolate(bilinear, align_corners=False) to
                   32 x 32 and .repeat(1, 3, 1, 1), layers.h's layer_input.
  resnet34_c1      model.channels 1, input (3, 1, 64, 72): layer4 is 2 x 3.
  resnet18_c1_meanstd  model.pool meanstd: resnet18_c1 with statistics pooling
                   (StatPool below) in place of the average and fc Linear(1024, L);
                   input (4, 1, 64, 96), so each std is over layer4's 2 x 3.
  resnet18_c1_attention  model.pool attention: the same with AttentiveStatPool
                   (below, A = 128) in the avgpool slot.

The sizes are chosen so the 3 AdamW steps (d) are well conditioned: AdamW's
first step is lr * sign(g), so elements whose gradient is within rounding of
0 flip, and with few values per BatchNorm channel the trajectory becomes
chaotic. Measured with torch itself, float32 against float64 after d: these
resnet18_c1 and resnet34_c1 inputs differ in ~2e-4 and ~1.5e-3 of the
elements by more than 1e-3 of the tensor's max. The MLP head (BatchNorm1d
over the batch) stays chaotic at every batch and size tried (3 to 16, 32 to
64: 0.2% to 20% of the elements, losses 1e-4 to 7e-3 apart), so
test_resnet.c checks that fixture's d coarsely; its a and b are tight.

Each fixture also stores the torch module's counts, so the C test proves its
tables hold exactly torchvision's tensors (none missing, none extra):
  n_params     [hi, lo]: parameter count = hi * 65536 + lo (exact in float32)
  n_entries    [named parameters, running_mean/var buffers]
and resnet18_c3_mlp stores n_params_linear: torchvision's resnet18 at 3 channels
with a plain Linear(512, L) fc (11,689,512 - 513,000 + 513 L)."""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

import zoo_golden

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "models")
L = 5


def split_count(n):
    return torch.tensor([float(n // 65536), float(n % 65536)])


def counts(net):
    n_params = sum(p.numel() for p in net.parameters())
    n_buffers = sum(1 for name, _ in net.named_buffers() if "running" in name)
    return {"n_params": split_count(n_params),
            "n_entries": torch.tensor([float(len(list(net.parameters()))), float(n_buffers)])}


def one_channel(net):
    """model.channels 1: conv1 takes the spectrogram itself."""
    net.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return net


class StatPool(nn.Module):
    """model.pool=meanstd in place of AdaptiveAvgPool2d(1): per channel the mean
    and sqrt(biased variance + 1e-5) over the positions, concatenated."""

    def forward(self, x):
        x = x.flatten(2)
        return torch.cat([x.mean(-1), (x.var(-1, unbiased=False) + 1e-5).sqrt()], 1)


class AttentiveStatPool(nn.Module):
    """model.pool=attention (Okabe et al. 2018): the mean and standard deviation
    under softmax_p(context(tanh(attention(h_p)))) over the positions p."""

    def __init__(self, channels, dim):
        super().__init__()
        self.attention = nn.Linear(channels, dim)
        self.context = nn.Linear(dim, 1, bias=False)

    def forward(self, x):
        h = x.flatten(2)                                            # (B, C, P)
        e = self.context(torch.tanh(self.attention(h.transpose(1, 2)))).squeeze(-1)
        a = torch.softmax(e, -1).unsqueeze(1)                       # (B, 1, P)
        mu = (a * h).sum(-1)
        var = (a * (h - mu.unsqueeze(-1)) ** 2).sum(-1)
        return torch.cat([mu, (var + 1e-5).sqrt()], 1)


def mlp_head(D, hidden, classes):
    """layers.h's MLP head; Dropout(0) as the golden config's cfg.dropout."""
    h1, h2 = hidden
    return nn.Sequential(nn.Linear(D, h1), nn.BatchNorm1d(h1), nn.ReLU(), nn.Dropout(0.0),
                         nn.Linear(h1, h2), nn.BatchNorm1d(h2), nn.ReLU(), nn.Dropout(0.0),
                         nn.Linear(h2, classes))


def main():
    torch.manual_seed(18)
    models = torchvision.models

    net = one_channel(models.resnet18(num_classes=L))
    x1 = torch.randn(4, 1, 64, 64)
    zoo_golden.make_fixture(os.path.join(OUT, "resnet18_c1.safetensors"), net, x1,
                            torch.tensor([0, 4, 2, 1]), extra=counts(net))

    net = models.resnet18(num_classes=L)
    extra = {"n_params_linear": split_count(sum(p.numel() for p in net.parameters()))}
    net.fc = mlp_head(512, (16, 8), L)
    extra.update(counts(net))
    x1 = torch.randn(8, 1, 20, 28)
    size = 32

    def adapter(x):
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return y.repeat(1, 3, 1, 1)

    zoo_golden.make_fixture(os.path.join(OUT, "resnet18_c3_mlp.safetensors"), net, x1,
                            torch.tensor([1, 3, 3, 0, 2, 4, 1, 0]), adapter=adapter, extra=extra)

    net = one_channel(models.resnet34(num_classes=L))
    x1 = torch.randn(3, 1, 64, 72)
    zoo_golden.make_fixture(os.path.join(OUT, "resnet34_c1.safetensors"), net, x1,
                            torch.tensor([4, 1, 2]), extra=counts(net))

    # Drawn last, so the fixtures above keep their values.
    net = one_channel(models.resnet18(num_classes=L))
    net.avgpool = StatPool()
    net.fc = nn.Linear(1024, L)
    x1 = torch.randn(4, 1, 64, 96)
    zoo_golden.make_fixture(os.path.join(OUT, "resnet18_c1_meanstd.safetensors"), net, x1,
                            torch.tensor([3, 0, 2, 4]), extra=counts(net))

    net = one_channel(models.resnet18(num_classes=L))
    net.avgpool = AttentiveStatPool(512, 128)
    net.fc = nn.Linear(1024, L)
    x1 = torch.randn(4, 1, 64, 96)
    zoo_golden.make_fixture(os.path.join(OUT, "resnet18_c1_attention.safetensors"), net, x1,
                            torch.tensor([1, 4, 0, 2]), extra=counts(net))


if __name__ == "__main__":
    main()
