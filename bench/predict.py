#!/usr/bin/python3
"""Batch-1 latency, audio file in to class probabilities out: Sermo vs PyTorch.

Run from the repository root after `make` and a training run:
    /usr/bin/python3 bench/predict.py --model runs/bench-ravdess/model.safetensors \\
        --clip ../shared/data/ravdess/Actor_24/03-01-05-02-01-01-24.flac
The PyTorch side does the same work with the same settings, read from the
model file's metadata: torchaudio.load, mean over channels, resample to the
model's rate, MelSpectrogram + AmplitudeToDB (top_db), per-bin normalisation,
centre crop/pad to the model's frames, cnn3 forward (weights copied from the
model file), softmax; eval mode under torch.no_grad(). Sermo also trims
silence when the model was trained with audio.trim (the default), work the
PyTorch side does not do. Both sides: 2 threads, 5 warm-ups, median of N runs.
"""
import argparse
import json
import statistics
import struct
import subprocess
import time

import numpy as np
import torch
import torch.nn as nn
import torchaudio


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        b, e = t["data_offsets"]
        tensors[name] = torch.from_numpy(np.frombuffer(data[b:e], dtype=np.float32).copy()).reshape(t["shape"])
    return tensors, meta


def cnn3(n_classes):
    layers, c_in = [], 1
    for c in (32, 64, 128):
        layers += [nn.Conv2d(c_in, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2)]
        c_in = c
    net = nn.Sequential()
    net.features = nn.Sequential(*layers)
    net.pool = nn.AdaptiveAvgPool2d(1)
    net.flatten = nn.Flatten()
    net.classifier = nn.Linear(128, n_classes)
    return net


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="runs/bench-ravdess/model.safetensors")
    ap.add_argument("--clip", default="../shared/data/ravdess/Actor_24/03-01-05-02-01-01-24.flac")
    ap.add_argument("--bin", default="build/bench_predict")
    ap.add_argument("--reps", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(2)
    tensors, meta = read_safetensors(args.model)
    cfg = {k[len("config."):]: v for k, v in meta.items() if k.startswith("config.")}
    labels = json.loads(meta["labels"])
    rate, frames = int(cfg["audio.sample_rate"]), int(meta["frames"])
    net = cnn3(len(labels))
    state = {k: v for k, v in tensors.items() if not k.startswith("norm.")}
    missing = net.load_state_dict(state, strict=False)
    assert not [k for k in missing.missing_keys if "num_batches" not in k], missing
    net.eval()
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=rate, n_fft=int(cfg["features.n_fft"]), win_length=int(cfg["features.win_length"]),
        hop_length=int(cfg["features.hop_length"]), n_mels=int(cfg["features.n_mels"]),
        f_min=float(cfg["features.f_min"]), f_max=float(cfg["features.f_max"]) or None)
    to_db = torchaudio.transforms.AmplitudeToDB("power", top_db=float(cfg["features.top_db"]))
    mean, std = tensors["norm.mean"][:, None], tensors["norm.std"][:, None]
    resamplers = {}

    def predict():
        wav, sr = torchaudio.load(args.clip)
        wav = wav.mean(0)
        if sr != rate:
            if sr not in resamplers:
                resamplers[sr] = torchaudio.transforms.Resample(sr, rate)
            wav = resamplers[sr](wav)
        x = (to_db(mel(wav)) - mean) / std
        n = x.shape[1]
        if n > frames:
            s = (n - frames) // 2
            x = x[:, s:s + frames]
        else:
            x = torch.nn.functional.pad(x, (0, frames - n))
        return torch.softmax(net(x[None, None]), dim=1)

    with torch.no_grad():
        for _ in range(5):
            predict()
        times = []
        for _ in range(args.reps):
            t = time.perf_counter()
            predict()
            times.append(time.perf_counter() - t)
    t_torch = statistics.median(times) * 1e3
    line = subprocess.run([args.bin, args.model, args.clip, str(args.reps), "2"], check=True,
                          capture_output=True, text=True).stdout
    t_sermo = float(line.split("median")[1].split()[0])
    print(f"torch {torch.__version__}, clip {args.clip}\n")
    print("| batch 1, audio file in, probabilities out | PyTorch + torchaudio | Sermo | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| median of {args.reps} (ms) | {t_torch:.2f} | {t_sermo:.2f} | {t_torch / t_sermo:.1f}x |")


if __name__ == "__main__":
    main()
