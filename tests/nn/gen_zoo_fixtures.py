#!/usr/bin/python3
"""Golden tensors for tests/nn/test_zoo_ops.c (the EfficientNet / ViT ops),
from PyTorch. Run with Debian's torch (the python3 on PATH may lack it):
    /usr/bin/python3 tests/nn/gen_zoo_fixtures.py
Writes tests/fixtures/nn/zoo.safetensors with the writer and conventions of
gen_fixtures.py (float64 references from float32 inputs; each op stores its
inputs, y, a random upstream dy and the gradients of sum(y * dy)).

The large resize (64x300 -> 224x224, the spectrogram-to-ImageNet step) takes
its input and upstream from an integer formula the C test repeats
(big_pattern), and stores only every 13th output and every 7th input gradient,
which still covers every output row and column; this keeps the file small.
It also stores torch's float32 results for that case (see main).
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_fixtures import OUT, op_case, rand, write_safetensors  # noqa: E402

# Sizes: (H, W) -> (OH, OW); down, up, non-dividing, mixed, global, identity.
ADAPTIVE = {
    "adapool_7x5_3x4": (7, 5, 3, 4),
    "adapool_5x6_11x9": (5, 6, 11, 9),
    "adapool_8x6_4x3": (8, 6, 4, 3),
    "adapool_6x7_1x1": (6, 7, 1, 1),
}
RESIZE = {
    "resize_7x5_3x4": (7, 5, 3, 4),
    "resize_5x6_11x9": (5, 6, 11, 9),
    "resize_4x9_4x5": (4, 9, 4, 5),  # equal height: the copy rule
    "resize_3x2_8x7": (3, 2, 8, 7),
}
# name: B, C, H, W, K, stride, pad, bias; groups = C_in = C_out. Stored with
# gen_fixtures.py's 15-number conv cfg, which golden_util.h's golden_conv reads.
DEPTHWISE = {
    "dw_k3s1p1": (2, 4, 7, 6, 3, 1, 1, True),
    "dw_k3s2p1": (2, 3, 7, 8, 3, 2, 1, False),
    "dw_k5s1p2": (2, 3, 6, 7, 5, 1, 2, True),
    "dw_k5s2p2": (2, 4, 9, 7, 5, 2, 2, True),
}
BIG = (64, 300, 224, 224)
BIG_Y_STRIDE, BIG_DX_STRIDE = 13, 7  # coprime with 224 and 300: every column


def big_pattern(n, mult):
    """((i * mult) % 1000 - 500) / 256: exact in float32, mirrored in C."""
    i = torch.arange(n, dtype=torch.int64)
    return (((i * mult) % 1000 - 500).double() / 256.0).float()


def cfg(*v):
    return torch.tensor(v, dtype=torch.float32)


def main():
    torch.manual_seed(4321)
    out = {}
    ext = torch.tensor([-100.0, -88.0, -80.0, -30.0, -10.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 10.0,
                        30.0, 80.0, 88.0, 100.0])
    for name, fn in (("sigmoid", torch.sigmoid), ("silu", F.silu)):
        op_case(out, name, fn, {"x": rand(2, 3, 4, 5, scale=3.0)})
        op_case(out, name + "_ext", fn, {"x": ext})
    op_case(out, "chscale", lambda x, s: x * s[:, :, None], {"x": rand(2, 3, 10), "s": rand(2, 3)})
    for name, (H, W, OH, OW) in ADAPTIVE.items():
        op_case(out, name, lambda x, o=(OH, OW): F.adaptive_avg_pool2d(x, o),
                {"x": rand(2, 3, H, W)}, {"cfg": cfg(H, W, OH, OW)})
    for name, (H, W, OH, OW) in RESIZE.items():
        op_case(out, name,
                lambda x, o=(OH, OW): F.interpolate(x, size=o, mode="bilinear", align_corners=False),
                {"x": rand(2, 3, H, W)}, {"cfg": cfg(H, W, OH, OW)})
    for name, (B, C, H, W, K, s, p, has_bias) in DEPTHWISE.items():
        inputs = {"x": rand(B, C, H, W), "w": rand(C, 1, K, K, scale=0.5)}
        if has_bias:
            inputs["b"] = rand(C, scale=0.5)
        op_case(out, name, lambda x, w, b=None, s=s, p=p, g=C: F.conv2d(x, w, b, s, p, 1, g),
                inputs, {"cfg": cfg(B, C, H, W, C, K, K, s, s, p, p, 1, 1, C, int(has_bias))})

    H, W, OH, OW = BIG
    out["resize_big.cfg"] = cfg(H, W, OH, OW, BIG_Y_STRIDE, BIG_DX_STRIDE)
    # float64 as everywhere, and torch's own float32 kernel: its source index
    # is rounded as sermo's (ATen computes it from a float scale), which moves
    # the output by up to 2e-5 from float64 at 300 columns.
    for suffix, dtype in (("", torch.float64), ("32", torch.float32)):
        x = big_pattern(H * W, 7919).reshape(1, 1, H, W).to(dtype).requires_grad_(True)
        dy = big_pattern(OH * OW, 104729).reshape(1, 1, OH, OW).to(dtype)
        y = F.interpolate(x, size=(OH, OW), mode="bilinear", align_corners=False)
        (y * dy).sum().backward()
        out[f"resize_big.y{suffix}_sub"] = y.detach().flatten()[::BIG_Y_STRIDE]
        out[f"resize_big.dx{suffix}_sub"] = x.grad.flatten()[::BIG_DX_STRIDE]

    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "zoo.safetensors")
    write_safetensors(path, out)
    print(f"torch {torch.__version__}: {len(out)} tensors -> {path}")


if __name__ == "__main__":
    main()
