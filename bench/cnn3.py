#!/usr/bin/python3
"""Side-by-side cnn3 benchmark: Sermo vs PyTorch on this machine.

Run from the repository root after building bench_cnn3:
    /usr/bin/python3 bench/cnn3.py [--bin build/bench_cnn3] [--threads 2] [--steps 20] [--reps 50]
Same architecture on both sides (src/models/cnn.c): 3 x [Conv2d 3x3 (pad 1,
no bias) -> BatchNorm2d -> ReLU -> MaxPool2d(2)] with 32/64/128 channels,
AdaptiveAvgPool2d(1), Dropout(0.3), Linear(128, 8); AdamW (lr 1e-3, wd 1e-2)
and CrossEntropyLoss(label_smoothing=0.1); random inputs (B, 1, 64, 300).
(a) training: batch 32, samples/s from the median step time (zero-grad +
    forward + loss + backward + optimizer step) after warm-up;
(b) inference: batch 1, one 3 s clip (1, 1, 64, 300), eval mode under
    torch.no_grad(), median latency after warm-up.
Both sides use the same thread count (torch.set_num_threads). Prints a
Markdown table for BENCHMARKS.md. Needs Debian's python3-torch.
"""
import argparse
import re
import statistics
import subprocess
import time

import torch
import torch.nn as nn

B, F, T, L = 32, 64, 300, 8


def cnn3():
    layers, c_in = [], 1
    for c_out in (32, 64, 128):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                   nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c_out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3),
                         nn.Linear(128, L))


def median_time(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_torch(steps, reps):
    torch.manual_seed(0)
    model = cnn3()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    x = torch.rand(B, 1, F, T) * 2 - 1
    y = torch.randint(0, L, (B,))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    model.train()
    t_step = median_time(step, 3, steps)
    model.eval()
    x1 = x[:1].contiguous()
    with torch.no_grad():
        t_infer = median_time(lambda: model(x1), 5, reps)
    return B / t_step, t_infer


def bench_sermo(binary, threads, steps, reps):
    out = subprocess.run([binary, str(threads), str(steps), str(reps)], check=True,
                         capture_output=True, text=True).stdout
    train = float(re.search(r"([\d.]+) samples/s", out).group(1))
    infer = float(re.search(r"infer .*median ([\d.]+) ms", out).group(1)) / 1e3
    return train, infer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bench_cnn3")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--reps", type=int, default=50, help="timed inference runs")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    s_train, s_infer = bench_sermo(a.bin, a.threads, a.steps, a.reps)
    t_train, t_infer = bench_torch(a.steps, a.reps)
    print(f"cnn3, input (1, {F}, {T}), {a.threads} threads, torch {torch.__version__}\n")
    print("| | PyTorch | Sermo | Sermo speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| training, batch {B} (samples/s) | {t_train:.1f} | {s_train:.1f} | "
          f"{s_train / t_train:.2f}x |")
    print(f"| inference, batch 1, 3 s clip (ms) | {t_infer * 1e3:.2f} | {s_infer * 1e3:.2f} | "
          f"{t_infer / s_infer:.2f}x |")


if __name__ == "__main__":
    main()
