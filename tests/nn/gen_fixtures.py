#!/usr/bin/python3
"""Golden tensors for tests/nn/test_golden.c, from PyTorch.

Run with Debian's torch (the python3 on PATH may lack it):
    /usr/bin/python3 tests/nn/gen_fixtures.py
Writes tests/fixtures/nn/ops.safetensors and tests/fixtures/nn/net.safetensors.

References are computed in float64 from float32 inputs and stored as float32,
so they carry no float32 rounding of their own. Every op gets its forward
output and the gradients of sum(out * dy) for a fixed random upstream dy.
Integer data (labels, configs) is stored as F32 holding small integers.

safetensors is written by hand (no package needed): an 8-byte little-endian
header length, a JSON header {"name": {"dtype", "shape", "data_offsets"}},
then the raw little-endian data.
"""
import json
import os
import struct

import torch
import torch.nn.functional as F

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "nn")


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch.float32).contiguous()
        raw = t.numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format allows space padding to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def rand(*shape, scale=1.0):
    return (torch.randn(*shape) * scale).to(torch.float32)


def leaf(t):
    return t.detach().double().requires_grad_(True)


def op_case(out, prefix, fn, inputs, extra=None):
    """fn(*leaves) -> y; stores inputs, y, dy and d<input> for each input."""
    leaves = [leaf(t) for t in inputs.values()]
    y = fn(*leaves)
    dy = rand(*y.shape)
    (y * dy.double()).sum().backward()
    for (name, t), l in zip(inputs.items(), leaves):
        out[f"{prefix}.{name}"] = t
        out[f"{prefix}.d{name}"] = l.grad
    out[f"{prefix}.y"] = y
    out[f"{prefix}.dy"] = dy
    for k, v in (extra or {}).items():
        out[f"{prefix}.{k}"] = v


def conv_cases(out):
    # name: B, Cin, H, W, Cout, (KH, KW), (sh, sw), (ph, pw), (dh, dw), groups, bias
    cases = {
        "conv_s2g2": (2, 4, 7, 9, 6, (3, 3), (2, 2), (1, 1), (1, 1), 2, True),
        "conv_d2": (2, 3, 8, 7, 4, (3, 3), (1, 1), (2, 2), (2, 2), 1, False),
        "conv_dw": (2, 4, 6, 5, 4, (3, 3), (1, 1), (1, 1), (1, 1), 4, True),
        "conv_rect": (3, 2, 5, 8, 3, (2, 3), (1, 2), (0, 1), (1, 1), 1, True),
        "conv_1x1": (2, 6, 4, 5, 3, (1, 1), (1, 1), (0, 0), (1, 1), 1, True),
    }
    for name, (B, Ci, H, W, Co, k, s, p, d, g, has_bias) in cases.items():
        inputs = {"x": rand(B, Ci, H, W), "w": rand(Co, Ci // g, *k, scale=0.5)}
        if has_bias:
            inputs["b"] = rand(Co, scale=0.5)

        def fn(x, w, b=None, s=s, p=p, d=d, g=g):
            return F.conv2d(x, w, b, stride=s, padding=p, dilation=d, groups=g)

        cfg = torch.tensor([B, Ci, H, W, Co, k[0], k[1], s[0], s[1], p[0], p[1], d[0], d[1], g,
                            int(has_bias)], dtype=torch.float32)
        op_case(out, name, fn, inputs, {"cfg": cfg})


def batchnorm_cases(out):
    x = rand(3, 4, 5, 6, scale=2.0) + 0.5
    w, b = 1.0 + rand(4, scale=0.3), rand(4, scale=0.3)
    rm, rv = rand(4, scale=0.2), 1.0 + torch.rand(4)
    for name, train in (("bn_train", True), ("bn_eval", False)):
        rm_l, rv_l = rm.double().clone(), rv.double().clone()

        def fn(x_, w_, b_, train=train, rm_l=rm_l, rv_l=rv_l):
            return F.batch_norm(x_, rm_l, rv_l, w_, b_, training=train, momentum=0.1, eps=1e-5)

        op_case(out, name, fn, {"x": x, "w": w, "b": b},
                {"running_mean": rm, "running_var": rv,
                 "running_mean_after": rm_l, "running_var_after": rv_l})


def pool_cases(out):
    # name: kind, K, stride, pad, count_include_pad
    cases = {
        "maxpool_k3s2p1": ("max", 3, 2, 1, 1),  # overlapping windows
        "maxpool_k2s2": ("max", 2, 2, 0, 1),
        "avgpool_k3s2p1": ("avg", 3, 2, 1, 1),
        "avgpool_k3s2p1_nopad": ("avg", 3, 2, 1, 0),
    }
    for name, (kind, k, s, p, cip) in cases.items():
        x = rand(2, 3, 7, 9)
        if kind == "max":
            fn = lambda x_, k=k, s=s, p=p: F.max_pool2d(x_, k, s, p)
        else:
            fn = lambda x_, k=k, s=s, p=p, cip=cip: F.avg_pool2d(x_, k, s, p,
                                                                 count_include_pad=bool(cip))
        op_case(out, name, fn, {"x": x},
                {"cfg": torch.tensor([k, s, p, cip], dtype=torch.float32)})
    op_case(out, "gap", lambda x_: F.adaptive_avg_pool2d(x_, 1).flatten(1), {"x": rand(2, 3, 4, 5)})


def statpool_case(out):
    """Statistics pooling (nn_global_statpool_*): mean and sqrt(biased var + 1e-5)
    per channel; one channel all zeros, as ReLU leaves some, where only the
    eps keeps the gradient finite. Drawn last, so the older cases' values
    stay as they were."""
    xs = rand(2, 3, 4, 5)
    xs[1, 2] = 0.0
    op_case(out, "statpool",
            lambda x_: torch.cat([x_.flatten(2).mean(-1),
                                  (x_.flatten(2).var(-1, unbiased=False) + 1e-5).sqrt()], 1),
            {"x": xs})


def misc_cases(out):
    op_case(out, "relu", F.relu, {"x": rand(2, 3, 4, 5)})
    op_case(out, "gelu", lambda x_: F.gelu(x_), {"x": rand(2, 3, 4, 5, scale=2.0)})
    op_case(out, "gelu_tanh", lambda x_: F.gelu(x_, approximate="tanh"),
            {"x": rand(2, 3, 4, 5, scale=2.0)})
    op_case(out, "linear", F.linear, {"x": rand(5, 7), "w": rand(3, 7), "b": rand(3)})
    for name, ls in (("ce", 0.0), ("ce_ls", 0.1)):
        logits = rand(6, 5, scale=2.0)
        labels = torch.tensor([0, 4, 2, 2, 1, 3])
        z = leaf(logits)
        loss = F.cross_entropy(z, labels, label_smoothing=ls)
        loss.backward()
        out[f"{name}.logits"] = logits
        out[f"{name}.labels"] = labels.float()
        out[f"{name}.smoothing"] = torch.tensor([ls])
        out[f"{name}.loss"] = loss.reshape(1)
        out[f"{name}.dlogits"] = z.grad


class Net(torch.nn.Module):
    """conv(1->4) -> BN -> ReLU -> maxpool2 -> conv(4->8) -> BN -> ReLU -> GAP
    -> dropout(p=0) -> linear(8->5). Convs before BN have no bias: BN removes
    it, its gradient is rounding noise, and AdamW would amplify that noise."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(4)
        self.conv2 = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(8)
        self.drop = torch.nn.Dropout(0.0)
        self.fc = torch.nn.Linear(8, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.relu(self.bn2(self.conv2(x)))
        return self.fc(self.drop(F.adaptive_avg_pool2d(x, 1).flatten(1)))


def net_case(out):
    net = Net()
    with torch.no_grad():  # non-default affine BN so swapped weight/bias would show
        for bn in (net.bn1, net.bn2):
            bn.weight.copy_(1.0 + 0.2 * torch.randn(bn.weight.shape))
            bn.bias.copy_(0.2 * torch.randn(bn.bias.shape))
    for name, p in net.named_parameters():
        out[f"init.{name}"] = p.detach().clone()
    net = net.double()
    x = rand(4, 1, 8, 12)
    labels = torch.tensor([0, 3, 1, 4])
    out["x"], out["labels"] = x, labels.float()
    decay = [p for n, p in net.named_parameters() if n.endswith("weight") and "bn" not in n]
    no_decay = [p for n, p in net.named_parameters() if not (n.endswith("weight") and "bn" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-2},
                             {"params": no_decay, "weight_decay": 0.0}], lr=1e-2)
    net.train()
    losses = []
    for step in range(5):
        opt.zero_grad()
        loss = F.cross_entropy(net(x.double()), labels)
        loss.backward()
        losses.append(loss.item())
        if step == 0:
            for name, p in net.named_parameters():
                out[f"grad.{name}"] = p.grad.detach().clone()
        opt.step()
    out["losses"] = torch.tensor(losses)
    for name, p in net.named_parameters():
        out[f"after5.{name}"] = p.detach().clone()
    for name, b in net.named_buffers():
        if "running" in name:
            out[f"after5.{name}"] = b.detach().clone()


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(1234)
    ops = {}
    conv_cases(ops)
    batchnorm_cases(ops)
    pool_cases(ops)
    misc_cases(ops)
    net = {}
    net_case(net)
    statpool_case(ops)
    write_safetensors(os.path.join(OUT, "ops.safetensors"), ops)
    write_safetensors(os.path.join(OUT, "net.safetensors"), net)
    print(f"torch {torch.__version__}: {len(ops)} op tensors, {len(net)} net tensors -> {OUT}")


if __name__ == "__main__":
    main()
