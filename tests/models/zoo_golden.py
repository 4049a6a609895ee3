#!/usr/bin/python3
"""The shared golden harness of the model-zoo tests (tests/models/gen_<family>.py).

Big models cannot ship their initial weights as fixtures (resnet18 is 45 MB),
so both sides fill every parameter and BN buffer from one integer hash of the
tensor's name and the element's index: tests/models/zoo_golden.h's zoo_fill
is the C twin of fill_ below, bit for bit (both round the same float64 value
to float32). Rules, with u in [0, 1) the hash of (name, i):
    *.running_var                 0.5 + u
    *.running_mean                0.2 (2u - 1)
    1-D *.weight (norm weights)   1 + 0.2 (2u - 1)
    other 1-D (biases)            0.1 (2u - 1)
    >= 2-D                        (2u - 1) sqrt(3 / fan_in), fan_in = numel / shape[0]
                                  (unit variance per output, so deep stacks stay finite)

make_fixture runs the sequence zoo_golden_check replays (the reference in
float64, dropout and stochastic depth off in the module given):
  a: train forward of x1, cross-entropy with labels1, backward
     -> a.logits, a.loss, a.grad.<param>, a.<buffer> (running stats after)
  b: eval forward of x1 -> b.logits
  d: 3 AdamW steps on x1 (lr 1e-3, weight decay 1e-2 on >= 2-D weights but
     cls_token and pos_embed, as the C tables' decay flags)
     -> d.losses, d.<param>, d.<buffer>
Tensors over 4096 elements are stored as strided samples plus [sum |x|,
sum x^2] (tests/models/gen_fixtures.py's put).
"""
import importlib.util
import os

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
# tests/models/gen_fixtures.py by path: tests/nn has a gen_fixtures.py too.
_spec = importlib.util.spec_from_file_location("models_gen_fixtures",
                                               os.path.join(HERE, "gen_fixtures.py"))
_gen = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_gen)
put, put_buffers, write_safetensors = _gen.put, _gen.put_buffers, _gen.write_safetensors

MASK = 0xFFFFFFFF


def fnv1a(name):
    h = 2166136261
    for b in name.encode():
        h = ((h ^ b) * 16777619) & MASK
    return h


def mulmod32(x, c):
    """x * c mod 2^32 for int64 tensors x < 2^32 without int64 overflow."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & MASK


def uniform(name, n):
    """The hash of (name, i) for i < n, as float64 in [0, 1)."""
    x = (mulmod32(torch.arange(n, dtype=torch.int64), 2654435761) + fnv1a(name)) & MASK
    x ^= x >> 16
    x = mulmod32(x, 0x7FEB352D)
    x ^= x >> 15
    x = mulmod32(x, 0x846CA68B)
    x ^= x >> 16
    return x.double() / 4294967296.0


def value(name, shape):
    n = 1
    for s in shape:
        n *= s
    u = uniform(name, n)
    if name.endswith("running_var"):
        v = 0.5 + u
    elif name.endswith("running_mean"):
        v = 0.2 * (2 * u - 1)
    elif len(shape) == 1 and name.endswith("weight"):
        v = 1 + 0.2 * (2 * u - 1)
    elif len(shape) == 1:
        v = 0.1 * (2 * u - 1)
    else:
        v = (2 * u - 1) * (3.0 / (n // shape[0])) ** 0.5
    return v.float().reshape(shape)


def fill_(net):
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if "num_batches" not in name:
                t.copy_(value(name, tuple(t.shape)))


def decays(name, p):
    return p.dim() >= 2 and not name.endswith(("cls_token", "pos_embed"))


def make_fixture(path, net, x1, labels1, adapter=None, extra=None):
    """Fills net, runs a, b, d on (x1, labels1) and writes the fixture; adapter
    maps the (B, 1, F, T) batch to the network's input (resize, repeat).
    labels1 None: a reconstructing model, trained on the mean squared error
    against x1, whose outputs are stored as "<stage>.recon"."""
    fill_(net)
    net = net.double()
    adapt = adapter or (lambda x: x)
    key = "recon" if labels1 is None else "logits"

    def run(x):
        return net(adapt(x.double()))

    def loss_of(y):
        return F.mse_loss(y, x1.double()) if labels1 is None else F.cross_entropy(y, labels1)

    out = {"x1": x1.float()}
    if labels1 is not None:
        out["labels1"] = labels1.float()
    net.train()
    net.zero_grad()
    y = run(x1)
    loss = loss_of(y)
    loss.backward()
    put(out, f"a.{key}", y)
    out["a.loss"] = loss.reshape(1)
    for name, p in net.named_parameters():
        put(out, f"a.grad.{name}", p.grad)
    put_buffers(out, "a", net)

    net.eval()
    with torch.no_grad():
        put(out, f"b.{key}", run(x1))

    net.train()
    named = list(net.named_parameters())
    opt = torch.optim.AdamW([{"params": [p for n, p in named if decays(n, p)], "weight_decay": 1e-2},
                             {"params": [p for n, p in named if not decays(n, p)],
                              "weight_decay": 0.0}], lr=1e-3)
    losses = []
    for _ in range(3):
        opt.zero_grad()
        loss = loss_of(run(x1))
        loss.backward()
        losses.append(loss.item())
        opt.step()
    out["d.losses"] = torch.tensor(losses)
    for name, p in net.named_parameters():
        put(out, f"d.{name}", p)
    put_buffers(out, "d", net)
    if extra:
        out.update(extra)
    write_safetensors(path, out)
    print(f"wrote {path}: {os.path.getsize(path)} bytes, {len(out)} tensors")
