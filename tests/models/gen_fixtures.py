#!/usr/bin/python3
"""Golden tensors for tests/models/test_cnn3.c, from PyTorch.

Run with Debian's torch (the python3 on PATH may lack it):
    /usr/bin/python3 tests/models/gen_fixtures.py
Writes tests/fixtures/models/cnn3.safetensors.

The PyTorch module below has the C model's parameter names (src/models/cnn.c),
so the C test loads init.<name> by name. Weights come from torch.manual_seed
(torch's default init, then non-default BN affine and running statistics so
swapped or ignored tensors show); they are stored as float32 and the
reference runs in float64 from those values.

Sequence (dropout 0: PyTorch's dropout RNG is not ours), n_classes 4:
  a: train forward of x1 (3, 1, 16, 24), cross-entropy with labels1, backward
     -> a.logits, a.loss, a.grad.<param>, a.<buffer> (running stats after)
  b: eval forward of x1 -> b.logits
  c: zero grad, train forward of x2 (3, 1, 16, 20) (variable T), backward
     -> c.logits, c.loss, c.grad.<param>, c.<buffer>
  d: 3 AdamW steps (lr 1e-3, weight decay 1e-2 on conv and classifier
     weights only, as the C table's decay flags) on x1, x2, x1 with their
     labels -> d.losses, d.<param>, d.<buffer>

Size: the initial weights are stored whole (~370 KB). Every other tensor of
more than 4096 elements is stored as a strided sample, elements k * stride
(stride a prime near numel / 2048 so the samples visit every kernel position
and channel), plus "<key>.stats" = [sum |x|, sum x^2] over all elements.
Smaller tensors are stored whole (stride 1). Integer data (labels) is F32.

safetensors is written by tests/nn/gen_fixtures.py's write_safetensors.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "nn"))
from gen_fixtures import write_safetensors  # noqa: E402  (tests/nn/gen_fixtures.py)

OUT = os.path.join(HERE, "..", "fixtures", "models")
SAMPLE_ABOVE = 4096


class CNN(nn.Module):
    """src/models/cnn.c's family: blocks of n x [conv3x3 no bias, BN, ReLU] + MaxPool2d(2)."""

    def __init__(self, blocks, in_channels, n_classes, dropout):
        super().__init__()
        layers, c = [], in_channels
        for n_convs, ch in blocks:
            for _ in range(n_convs):
                layers += [nn.Conv2d(c, ch, 3, padding=1, bias=False), nn.BatchNorm2d(ch),
                           nn.ReLU()]
                c = ch
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(c, n_classes)

    def forward(self, x):
        return self.classifier(self.dropout(self.pool(self.features(x)).flatten(1)))


def is_prime(n):
    return n > 1 and all(n % d for d in range(2, int(n ** 0.5) + 1))


def put(out, key, t):
    """Whole when small, else a strided sample plus [sum |x|, sum x^2]."""
    t = t.detach().double().reshape(-1).clone()  # grads and buffers change in place later
    if t.numel() <= SAMPLE_ABOVE:
        out[key] = t
        out[key + ".stride"] = torch.tensor([1.0])
        return
    stride = -(-t.numel() // 2048)
    while not is_prime(stride) or stride in (2, 3):
        stride += 1
    out[key] = t[::stride]
    out[key + ".stride"] = torch.tensor([float(stride)])
    out[key + ".stats"] = torch.tensor([t.abs().sum().item(), (t * t).sum().item()])


def put_params(out, prefix, net):
    for name, p in net.named_parameters():
        put(out, f"{prefix}.{name}", p)


def put_buffers(out, prefix, net):
    for name, b in net.named_buffers():
        if "running" in name:
            put(out, f"{prefix}.{name}", b)


def train_case(out, prefix, net, x, labels):
    """Zero grad, train forward, cross-entropy, backward: logits, loss, every
    gradient, the running statistics after."""
    net.train()
    net.zero_grad()
    logits = net(x.double())
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    out[f"{prefix}.logits"], out[f"{prefix}.loss"] = logits, loss.reshape(1)
    for name, p in net.named_parameters():
        put(out, f"{prefix}.grad.{name}", p.grad)
    put_buffers(out, prefix, net)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(20240611)
    net = CNN([(1, 32), (1, 64), (1, 128)], 1, 4, 0.0)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1.0 + 0.2 * torch.randn(m.weight.shape))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape))
                m.running_var.copy_(1.0 + 0.5 * torch.rand(m.running_var.shape))
    out = {}
    for name, t in net.state_dict().items():
        if "num_batches" not in name:
            out[f"init.{name}"] = t.detach().clone().float()
    net = net.double()
    x1 = torch.randn(3, 1, 16, 24)
    x2 = torch.randn(3, 1, 16, 20)
    labels1 = torch.tensor([0, 3, 1])
    labels2 = torch.tensor([2, 1, 3])
    out.update({"x1": x1, "x2": x2, "labels1": labels1.float(), "labels2": labels2.float()})

    train_case(out, "a", net, x1, labels1)
    net.eval()  # b: the running statistics a updated
    with torch.no_grad():
        out["b.logits"] = net(x1.double())
    train_case(out, "c", net, x2, labels2)  # c: the same model, T = 20

    # d: 3 AdamW steps
    def decays(n):
        return n.endswith("weight") and (n.startswith("classifier") or
                                         net.get_parameter(n).dim() == 4)
    named = list(net.named_parameters())
    opt = torch.optim.AdamW([{"params": [p for n, p in named if decays(n)], "weight_decay": 1e-2},
                             {"params": [p for n, p in named if not decays(n)],
                              "weight_decay": 0.0}], lr=1e-3)
    losses = []
    for x, y in ((x1, labels1), (x2, labels2), (x1, labels1)):
        opt.zero_grad()
        loss = F.cross_entropy(net(x.double()), y)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    out["d.losses"] = torch.tensor(losses)
    put_params(out, "d", net)
    put_buffers(out, "d", net)
    path = os.path.join(OUT, "cnn3.safetensors")
    write_safetensors(path, out)
    print(f"wrote {path}: {os.path.getsize(path)} bytes, {len(out)} tensors")


if __name__ == "__main__":
    main()
