#!/usr/bin/python3
"""Fusion weights fitted on validation speakers vs equal weights, per CV fold.

Run from the repository root after `make` and the `sermo cv` runs named
below (BENCHMARKS.md, "Accuracy: RAVDESS, 6-fold cross-validation"):
    python3 bench/fusion_weights.py [--cv runs/cv-fused-avg5]
        [--members runs/cv-resnet24-speed-avg5,runs/cv-resnet24-speed-avg5-s7,runs/cv-egemaps]
For fold k, every member's fold-k model classifies (`sermo predict --json`)
the fold's validation clips (fold k+1's speakers, as `data.split=kfold`
validates) and its test clips. The weights, a grid over the simplex in steps
of 0.1 with every member above 0, are chosen by validation accuracy (ties: the
most even), then scored on the test clips beside equal weights. The members'
float32 files are used, so equal weights can differ by a clip from `sermo cv
--fuse`, whose ensemble file stores float16. Standard library only.
"""
import argparse
import csv
import itertools
import json
import os
import subprocess

LABELS = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def ravdess_label(path):
    """RAVDESS names clips MM-VC-EE-...: EE is the emotion, 01 to 08."""
    return int(os.path.basename(path).split("-")[2]) - 1


def predict(binary, model, paths):
    out = subprocess.run([binary, "predict", model, *paths, "--json"], check=True, capture_output=True, text=True)
    return {e["file"]: [e["probabilities"][name] for name in LABELS] for e in json.loads(out.stdout)}


def accuracy(weights, probs, paths):
    right = 0
    for path in paths:
        fused = [sum(w * p[path][c] for w, p in zip(weights, probs)) for c in range(len(LABELS))]
        right += max(range(len(LABELS)), key=fused.__getitem__) == ravdess_label(path)
    return right / len(paths)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/sermo")
    ap.add_argument("--cv", default="runs/cv-fused-avg5", help="a cv run whose folds.csv names the folds")
    ap.add_argument("--members", default="runs/cv-resnet24-speed-avg5,runs/cv-resnet24-speed-avg5-s7,runs/cv-egemaps")
    args = ap.parse_args()
    members = args.members.split(",")
    with open(os.path.join(args.cv, "folds.csv")) as f:
        fold_of = {row["path"]: int(row["fold"]) for row in csv.DictReader(f)}
    n_folds = max(fold_of.values()) + 1
    grid = [w for w in itertools.product(range(1, 11), repeat=len(members)) if sum(w) == 10]
    equal = [1] * len(members)
    totals = [0.0, 0.0]
    print("| fold | weights fitted on validation | validation: fitted / equal | test: fitted / equal |")
    print("|---:|---|---:|---:|")
    for k in range(n_folds):
        test = [p for p, f in fold_of.items() if f == k]
        val = [p for p, f in fold_of.items() if f == (k + 1) % n_folds]
        probs = [predict(args.bin, os.path.join(m, f"fold-{k}", "model.safetensors"), val + test) for m in members]
        best = max(grid, key=lambda w: (accuracy(w, probs, val), -max(w)))
        fitted, even = accuracy(best, probs, test), accuracy(equal, probs, test)
        totals[0] += fitted
        totals[1] += even
        print(f"| {k} | {':'.join(map(str, best))} | {accuracy(best, probs, val):.4f} / "
              f"{accuracy(equal, probs, val):.4f} | {fitted:.4f} / {even:.4f} |")
    print(f"\nmean test accuracy: fitted {totals[0] / n_folds:.4f}, equal {totals[1] / n_folds:.4f}")


if __name__ == "__main__":
    main()
