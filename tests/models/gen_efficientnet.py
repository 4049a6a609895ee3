#!/usr/bin/python3
"""Golden fixture for efficientnet_b2 (tests/models/test_efficientnet.c)
against torchvision's EfficientNet-B2, through the shared zoo harness
(tests/models/zoo_golden.py):
    /usr/bin/python3 tests/models/gen_efficientnet.py
writes tests/fixtures/models/efficientnet_b2.safetensors.

  efficientnet_b2  torchvision.models.efficientnet_b2(num_classes=4,
                   stochastic_depth_prob=0.0) with the classifier's Dropout set
                   to p=0 (the C config: dropout 0, drop_path -1; torch's
                   StochasticDepth(p=0) is the identity, as the C model's
                   disabled drop path); model.channels 3: the (2, 1, 64, 64)
                   spectrogram batch goes through .repeat(1, 3, 1, 1), layers.h's
                   layer_input. 64 x 64 leaves features.6-8 a 2 x 2 map: at
                   32 x 32 (1 x 1 maps, BN over 2 values) train-mode BN makes
                   the float64 reference itself ill-conditioned (float32 torch
                   differs from it by 40% in the logits).

Size: B2 has 1,926 stored tensors, so the harness's samples (tensors over
4096 elements as ~2048 strided values) would make a 3 MB fixture. put is
replaced here by a sparser one with the same format: tensors over 1024
elements as ~384 strided values (a prime stride, so the samples still visit
every channel and kernel tap) plus the [sum |x|, sum x^2] of all of them;
the C side reads each tensor's stride from the fixture.

The fixture also stores the torch module's counts, so the C test proves its
tables hold exactly torchvision's tensors:
  n_params     [hi, lo]: parameter count = hi * 65536 + lo (exact in float32)
  n_entries    [named parameters, running_mean/var buffers]"""
import os

import torch
import torchvision

import zoo_golden

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "models")
L = 4


def sparse_put(out, key, t):
    """zoo_golden's put with a sparser sample (see the header)."""
    t = t.detach().double().reshape(-1).clone()  # grads and buffers change in place later
    if t.numel() <= 1024:
        out[key] = t
        out[key + ".stride"] = torch.tensor([1.0])
        return
    stride = -(-t.numel() // 384)
    while not zoo_golden._gen.is_prime(stride) or stride in (2, 3):
        stride += 1
    out[key] = t[::stride]
    out[key + ".stride"] = torch.tensor([float(stride)])
    out[key + ".stats"] = torch.tensor([t.abs().sum().item(), (t * t).sum().item()])


# make_fixture calls zoo_golden.put; put_buffers calls its module's put.
zoo_golden.put = zoo_golden._gen.put = sparse_put


def split_count(n):
    return torch.tensor([float(n // 65536), float(n % 65536)])


def main():
    torch.manual_seed(2)
    net = torchvision.models.efficientnet_b2(num_classes=L, stochastic_depth_prob=0.0)
    # efficientnet_b2 hard-codes dropout 0.3 (a kwarg would clash with it).
    net.classifier[0].p = 0.0
    n_params = sum(p.numel() for p in net.parameters())
    n_buffers = sum(1 for name, _ in net.named_buffers() if "running" in name)
    extra = {"n_params": split_count(n_params),
             "n_entries": torch.tensor([float(len(list(net.parameters()))), float(n_buffers)])}
    x1 = torch.randn(2, 1, 64, 64)
    zoo_golden.make_fixture(os.path.join(OUT, "efficientnet_b2.safetensors"), net, x1,
                            torch.tensor([3, 1]), adapter=lambda x: x.repeat(1, 3, 1, 1),
                            extra=extra)
    print(f"torchvision efficientnet_b2(num_classes={L}): {n_params} parameters")


if __name__ == "__main__":
    main()
