#!/usr/bin/python3
"""Side-by-side front-end benchmark: Sermo vs torchaudio on this machine.

Run from the repository root after `make`:
    /usr/bin/python3 bench/frontend.py [--data ../shared/data/ravdess] [--bin build/bench_frontend]
(a) log-mel of a 60 s 16 kHz signal, one thread each, best of N, and the
    largest difference between the two outputs;
(b) decode + resample to 16 kHz + log-mel of every clip in the corpus folder,
    one thread each (and Sermo with 2 threads as an extra row).
Prints a Markdown table for BENCHMARKS.md. Needs Debian's python3-torchaudio.
"""
import argparse
import glob
import os
import subprocess
import tempfile
import time

import numpy as np
import torch
import torchaudio

SR, N_FFT, WIN, HOP, N_MELS = 16000, 512, 400, 160, 64


def mel_transform():
    return torchaudio.transforms.MelSpectrogram(
        sample_rate=SR, n_fft=N_FFT, win_length=WIN, hop_length=HOP, n_mels=N_MELS)


def best_of(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_logmel(binary, repeats, tmp):
    rng = np.random.default_rng(0)
    t = np.arange(60 * SR) / SR
    # Speech-like content: a gliding harmonic tone plus noise, never silent.
    f0 = 150 + 50 * np.sin(2 * np.pi * 0.5 * t)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2 + 0.01 * rng.standard_normal(t.size)
    x = x.astype(np.float32)
    src, out = os.path.join(tmp, "in.f32"), os.path.join(tmp, "out.f32")
    x.tofile(src)
    mel = mel_transform()
    xt = torch.from_numpy(x)
    with torch.no_grad():
        ref = torch.log(mel(xt) + 1e-6)
        t_torch = best_of(lambda: torch.log(mel(xt) + 1e-6), repeats)
    line = subprocess.run([binary, "logmel", src, out, str(repeats)], check=True,
                          capture_output=True, text=True).stdout
    t_sermo = float(line.split("best of")[1].split()[1]) / 1e3
    got = np.fromfile(out, dtype=np.float32).reshape(ref.shape)
    diff = np.abs(got - ref.numpy())
    return t_torch, t_sermo, float(diff.max()), float(np.abs(ref.numpy()).max())


def bench_corpus(binary, folder):
    files = sorted(glob.glob(os.path.join(folder, "**", "*.flac"), recursive=True) +
                   glob.glob(os.path.join(folder, "**", "*.wav"), recursive=True))
    mel = mel_transform()
    resamplers = {}

    def run():
        for f in files:
            wav, sr = torchaudio.load(f)
            wav = wav.mean(0)
            if sr != SR:
                if sr not in resamplers:
                    resamplers[sr] = torchaudio.transforms.Resample(sr, SR)
                wav = resamplers[sr](wav)
            torch.log(mel(wav) + 1e-6)

    with torch.no_grad():
        t = time.perf_counter()
        run()
        t_torch = time.perf_counter() - t
    times = {}
    for threads in (1, 2):
        line = subprocess.run([binary, "corpus", folder, str(threads)], check=True,
                              capture_output=True, text=True).stdout
        times[threads] = float(line.split(":")[1].split()[0])
    return len(files), t_torch, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/ravdess")
    ap.add_argument("--bin", default="build/bench_frontend")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        t_torch, t_sermo, max_diff, max_ref = bench_logmel(args.bin, args.repeats, tmp)
    n, c_torch, c_sermo = bench_corpus(args.bin, args.data)
    print(f"torch {torch.__version__}, torchaudio {torchaudio.__version__}, "
          f"{os.cpu_count()} cores\n")
    print("| task | torchaudio | Sermo | speed-up |")
    print("|---|---|---|---|")
    print(f"| log-mel of 60 s at 16 kHz, 1 thread (best of {args.repeats}) | "
          f"{t_torch * 1e3:.1f} ms | {t_sermo * 1e3:.1f} ms | {t_torch / t_sermo:.1f}x |")
    print(f"| decode + resample + log-mel, {n} clips, 1 thread | {c_torch:.2f} s | "
          f"{c_sermo[1]:.2f} s | {c_torch / c_sermo[1]:.1f}x |")
    print(f"| same, Sermo with 2 threads | {c_torch:.2f} s | {c_sermo[2]:.2f} s | "
          f"{c_torch / c_sermo[2]:.1f}x |")
    print(f"\nlog-mel outputs: max |Sermo - torchaudio| = {max_diff:.2e} "
          f"(largest |value| {max_ref:.1f})")


if __name__ == "__main__":
    main()
