#!/usr/bin/python3
"""Golden tensors for the transformer ops in tests/nn/test_transformer_ops.c.

Run with Debian's torch (the python3 on PATH may lack it):
    /usr/bin/python3 tests/nn/gen_transformer_fixtures.py
Writes tests/fixtures/nn/transformer.safetensors, in gen_fixtures.py's format
and conventions (its writer and op_case are reused): float64 references from
float32 inputs, forward output y, upstream dy and the gradient of
sum(y * dy) for every input.

Attention is written the way timm's vision_transformer.Attention does it
(https://github.com/huggingface/pytorch-image-models, timm/models/
vision_transformer.py, fused_attn off), without the qkv and proj Linears.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True  # importing gen_fixtures leaves no __pycache__ in tests/
from gen_fixtures import OUT, op_case, rand, write_safetensors


def timm_attention(qkv, NH):
    B, T, C3 = qkv.shape
    C = C3 // 3
    hs = C // NH
    q, k, v = qkv.reshape(B, T, 3, NH, hs).permute(2, 0, 3, 1, 4).unbind(0)
    att = ((q @ k.transpose(-2, -1)) * hs ** -0.5).softmax(dim=-1)
    return (att @ v).transpose(1, 2).reshape(B, T, C)


def main():
    torch.manual_seed(4321)
    out = {}
    # name: eps; rows N = 6 of C = 10, a non-zero mean and a non-unit scale,
    # except row 2 whose variance (~1e-5) is near eps, so eps shows in y
    for name, eps in (("ln_eps1e-6", 1e-6), ("ln_eps1e-5", 1e-5)):
        x = rand(6, 10, scale=2.0) + 0.7
        x[2] = rand(10, scale=3e-3)
        w, b = 1.0 + rand(10, scale=0.3), rand(10, scale=0.3)
        op_case(out, name, lambda x_, w_, b_, eps=eps: F.layer_norm(x_, (10,), w_, b_, eps),
                {"x": x, "w": w, "b": b}, {"eps": torch.tensor([eps])})
    op_case(out, "softmax", lambda x_: torch.softmax(x_, dim=-1), {"x": rand(5, 7, scale=3.0)})
    # name: B, T, C, NH (the second has hs = 8 and an odd T)
    for name, (B, T, C, NH) in (("attn_b2t5c8h2", (2, 5, 8, 2)),
                                ("attn_b1t7c24h3", (1, 7, 24, 3))):
        op_case(out, name, lambda qkv_, NH=NH: timm_attention(qkv_, NH),
                {"qkv": rand(B, T, 3 * C)},
                {"cfg": torch.tensor([B, T, C, NH], dtype=torch.float32)})
    path = os.path.join(OUT, "transformer.safetensors")
    write_safetensors(path, out)
    print(f"torch {torch.__version__}: {len(out)} tensors -> {path}")


if __name__ == "__main__":
    main()
