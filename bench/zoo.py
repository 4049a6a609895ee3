#!/usr/bin/python3
"""Side-by-side speed of the model zoo: Sermo vs PyTorch on this machine.

Run from the repository root after `make`:
    /usr/bin/python3 bench/zoo.py [--bin build/bench_zoo] [--threads 2] [--models cnn3,resnet18,...]
For each model, the same architecture, batch, input and thread count on
both sides, each in a process of its own (so peak RSS is that model's):
  cnn3             1x64x300,  training batch 32
  resnet18         1x128x256, training batch 32 (torchvision, 1-channel conv1)
  efficientnet_b2  3x224x224, training batch 16 (torchvision)
  vit small        3x224x224, training batch 16 (timm's vit_small_patch16_224
                   layout, tests/models/gen_vit.py)
The 3-channel models get a (B, 1, 224, 224) input repeated to 3 channels
inside the network, as Sermo's input adapter does. One training step =
zero-grad + forward + label-smoothed cross-entropy + backward + AdamW; the
median of --steps after 2 warm-ups gives samples/s. Inference: batch 1,
eval mode, no autograd, median of --reps after 3 warm-ups. Each side runs
in --rounds fresh processes (default 3) and its best round counts: PyTorch's
batch-1 latency was seen to change by up to 2x from one process to the next
on this machine (thread placement), Sermo's by a few percent.
FLOPs are counted on the PyTorch model (2 per multiply-add of convolutions,
linear layers and attention's two matrix products; a training step counted
as 3 forward passes) and divided by each side's time; the ceiling is
OpenBLAS SGEMM (bench_zoo sgemm, 2048 x 2048, same threads).
Prints a Markdown table for BENCHMARKS.md. Needs Debian's python3-torch and
python3-torchvision (make setup-reference).
"""
import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# name: (sermo model, B, F, T, sermo options)
CASES = {
    "cnn3": ("cnn3", 32, 64, 300, []),
    "resnet18": ("resnet18", 32, 128, 256, ["channels=1"]),
    "efficientnet_b2": ("efficientnet_b2", 16, 224, 224, ["channels=3", "image_size=-1"]),
    "vit_small": ("vit", 16, 224, 224, ["size=small", "channels=3", "image_size=224"]),
}
CLASSES = 8


def torch_model(name):
    import torch.nn as nn
    import torchvision
    if name == "cnn3":  # src/models/cnn.c: 3 x [conv3x3 -> BN -> ReLU -> maxpool 2]
        layers, c_in = [], 1
        for c_out in (32, 64, 128):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c_out
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                             nn.Linear(128, CLASSES)), 1
    if name == "resnet18":
        net = torchvision.models.resnet18(num_classes=CLASSES)
        net.conv1 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
        return net, 1
    if name == "efficientnet_b2":
        return torchvision.models.efficientnet_b2(num_classes=CLASSES), 3
    if name == "vit_small":
        sys.path.insert(0, os.path.join(HERE, "..", "tests", "models"))
        from gen_vit import VisionTransformer
        return VisionTransformer("small", classes=CLASSES), 3
    raise SystemExit(f"unknown model {name}")


def count_flops(net, x):
    """Forward FLOPs of one call on x (multiply-adds x 2)."""
    import torch
    import torch.nn as nn
    total = [0]

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            total[0] += 2 * out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            total[0] += 2 * out.numel() * mod.in_features
        elif type(mod).__name__ == "Attention":  # q k^T and attn v
            B, N, C = inp[0].shape
            total[0] += 2 * 2 * B * N * N * C

    handles = [m.register_forward_hook(hook) for m in net.modules()]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return total[0]


def median_time(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def torch_worker(name, threads, steps, reps):
    import torch
    import torch.nn as nn
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    _, B, F, T, _ = CASES[name]
    net, channels = torch_model(name)
    model = nn.Sequential(RepeatChannels(channels), net) if channels > 1 else net
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.rand(B, 1, F, T) * 2 - 1
    y = torch.randint(0, CLASSES, (B,))

    def step():
        opt.zero_grad(set_to_none=False)
        loss_fn(model(x), y).backward()
        opt.step()

    model.train()
    t_step = median_time(step, 2, steps)
    model.eval()
    x1 = x[:1].contiguous()
    with torch.no_grad():
        t_infer = median_time(lambda: model(x1), 3, reps)
    print(f"train_samples_s {B / t_step:.3f}")
    print(f"infer_ms {t_infer * 1e3:.4f}")
    print(f"flops {count_flops(model, x1)}")
    print(f"params {sum(p.numel() for p in net.parameters())}")
    print(f"peak_rss_kb {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")


def RepeatChannels(channels):
    import torch.nn as nn

    class Repeat(nn.Module):
        def forward(self, x):
            return x.repeat(1, channels, 1, 1)
    return Repeat()


def best(results):
    """The best of several rounds: most samples/s, least latency, most memory."""
    out = dict(results[0])
    out["train_samples_s"] = max(r["train_samples_s"] for r in results)
    out["infer_ms"] = min(r["infer_ms"] for r in results)
    out["peak_rss_kb"] = max(r["peak_rss_kb"] for r in results)
    return out


def parse(out):
    return {k: float(v) for k, v in re.findall(r"^(\w+) ([\d.e+-]+)$", out, re.M)}


def run(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    return parse(subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bench_zoo")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", default=",".join(CASES))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        return torch_worker(a.worker, a.threads, a.steps, a.reps)

    th = a.threads
    peak = run([a.bin, "sgemm", str(th), "2048", "10"], th)["sgemm_gflops"]
    print(f"OpenBLAS SGEMM 2048^3, {th} threads: {peak:.1f} GFLOP/s", flush=True)
    rows = []
    for name in a.models.split(","):
        sermo_name, B, F, T, opts = CASES[name]
        sermo_cmd = [a.bin, sermo_name, str(th), str(B), str(F), str(T), str(a.steps), str(a.reps)] + opts
        torch_cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--threads", str(th),
                     "--steps", str(a.steps), "--reps", str(a.reps)]
        rounds = [(run(sermo_cmd, th), run(torch_cmd, th)) for _ in range(a.rounds)]
        s, p = best([r[0] for r in rounds]), best([r[1] for r in rounds])
        if int(s["params"]) != int(p["params"]):
            print(f"warning: {name}: Sermo has {int(s['params'])} parameters, PyTorch {int(p['params'])}")
        fwd = p["flops"]
        gf = lambda sps: 3 * fwd * sps * 1e-9
        gi = lambda ms: fwd / (ms * 1e-3) * 1e-9
        rows.append((name, B, p["train_samples_s"], s["train_samples_s"], p["infer_ms"], s["infer_ms"],
                     gf(p["train_samples_s"]), gf(s["train_samples_s"]), gi(p["infer_ms"]), gi(s["infer_ms"]),
                     p["peak_rss_kb"] / 1024, s["peak_rss_kb"] / 1024, fwd * 1e-9))
        print(f"{name}: done", flush=True)

    print(f"\nthreads {th}, SGEMM peak {peak:.1f} GFLOP/s, best of {a.rounds} rounds\n")
    print("| model | batch | train samples/s PyTorch | Sermo | ratio | batch-1 ms PyTorch | Sermo | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[3] / r[2]:.2f}x | {r[4]:.2f} | {r[5]:.2f} | "
              f"{r[4] / r[5]:.2f}x |")
    print("\n| model | GFLOP/sample | train GFLOP/s PyTorch | Sermo (% of peak) | batch-1 GFLOP/s PyTorch | "
          "Sermo (% of peak) | peak RSS MB PyTorch | Sermo |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r[0]} | {r[12]:.2f} | {r[6]:.1f} | {r[7]:.1f} ({100 * r[7] / peak:.0f}%) | {r[8]:.1f} | "
              f"{r[9]:.1f} ({100 * r[9] / peak:.0f}%) | {r[10]:.0f} | {r[11]:.0f} |")


if __name__ == "__main__":
    main()
