#!/usr/bin/python3
"""Golden fixtures for the vit family (tests/models/test_vit.c) through the
shared zoo harness (tests/models/zoo_golden.py):
    /usr/bin/python3 tests/models/gen_vit.py
writes tests/fixtures/models/vit_tiny_c3.safetensors and vit_tiny_c1.safetensors.

timm is not installed, so VisionTransformer below is written by hand with
timm's module names and forward (timm/models/vision_transformer.py, global_pool
'token', class_token, no reg tokens, qkv_bias, no qk_norm, no LayerScale, no
fc_norm): patch_embed.proj Conv2d(C, E, 16, 16), cls_token, pos_embed,
blocks.i = {norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2} pre-norm with
drop_path, LayerNorm eps 1e-6, exact GELU, norm, head on norm(x)[:, 0].

  vit_tiny_c3      size tiny (E 192, depth 12, 3 heads) at model.image_size 32
                   (2 x 2 patches + class token), 3 channels, linear head; the
                   (2, 1, 20, 28) input goes through F.interpolate(bilinear,
                   align_corners=False) to 32 x 32 and .repeat(1, 3, 1, 1)
                   (layers.h's layer_input).
  vit_tiny_c1      size tiny at image_size 48 (3 x 3 patches + class token),
                   1 channel, linear head; the (3, 1, 40, 20) input is resized
                   (down in F, up in T) to 48 x 48.

No fixture has the MLP head: its Linear -> BatchNorm1d pairs (and the final
norm's bias before them) get structurally zero gradients in train mode, which
float32 leaves as ~1e-8 rounding noise that AdamW's per-element normalisation
turns into lr-sized steps, so the d comparisons cannot match float64.

Each fixture stores the torch module's counts (n_params as [hi, lo] =
hi * 65536 + lo, exact in float32; n_entries [named parameters, running_mean/var buffers]), and
vit_tiny_c3 stores n_params_{tiny,small,base}: the parameter counts at
image_size 224, 3 channels, with a Linear(E, L) head, i.e. timm's
vit_{tiny,small,base}_patch16_224 (5,717,416 / 22,050,664 / 86,567,656 with
its 1000-class head, asserted below) with the head swapped."""
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

import zoo_golden

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "models")
L = 5
SIZES = {"tiny": (192, 12, 3), "small": (384, 12, 6), "base": (768, 12, 12)}
TIMM_1000 = {"tiny": 5717416, "small": 22050664, "base": 86567656}


def drop_path(x, p, training):
    """timm.layers.drop_path: one Bernoulli(1 - p) per sample, scaled by 1 / (1 - p)."""
    if p == 0.0 or not training:
        return x
    keep = 1.0 - p
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


class Attention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.num_heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim, heads, dpr):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        self.dpr = dpr

    def forward(self, x):
        x = x + drop_path(self.attn(self.norm1(x)), self.dpr, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.dpr, self.training)


class PatchEmbed(nn.Module):
    def __init__(self, channels, dim):
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, kernel_size=16, stride=16)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, P, E)


class VisionTransformer(nn.Module):
    def __init__(self, size, image_size=224, channels=3, classes=L, head=None, drop_path_rate=0.0):
        super().__init__()
        dim, depth, heads = SIZES[size]
        n_patches = (image_size // 16) ** 2
        self.patch_embed = PatchEmbed(channels, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n_patches + 1, dim))
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, depth)]
        self.blocks = nn.Sequential(*[Block(dim, heads, dpr[i]) for i in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = head if head is not None else nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def n_params(net):
    return sum(p.numel() for p in net.parameters())


def split_count(n):
    return torch.tensor([float(n // 65536), float(n % 65536)])


def counts(net):
    return {"n_params": split_count(n_params(net)),
            "n_entries": torch.tensor([float(len(list(net.parameters()))),
                                       float(sum(1 for n, _ in net.named_buffers() if "running" in n))])}


def resize_adapter(size, channels):
    def adapter(x):
        y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return y.repeat(1, channels, 1, 1)
    return adapter


def main():
    torch.manual_seed(224)
    extra = {}
    for size in SIZES:
        n = n_params(VisionTransformer(size, classes=1000))
        assert n == TIMM_1000[size], (size, n)
        extra[f"n_params_{size}"] = split_count(n_params(VisionTransformer(size, classes=L)))

    net = VisionTransformer("tiny", image_size=32, channels=3)
    extra.update(counts(net))
    x1 = torch.randn(2, 1, 20, 28)
    zoo_golden.make_fixture(os.path.join(OUT, "vit_tiny_c3.safetensors"), net, x1,
                            torch.tensor([3, 1]), adapter=resize_adapter(32, 3), extra=extra)

    net = VisionTransformer("tiny", image_size=48, channels=1)
    x1 = torch.randn(3, 1, 40, 20)
    zoo_golden.make_fixture(os.path.join(OUT, "vit_tiny_c1.safetensors"), net, x1,
                            torch.tensor([0, 4, 2]), adapter=resize_adapter(48, 1),
                            extra=counts(net))


if __name__ == "__main__":
    main()
