#!/usr/bin/python3
"""Golden fixtures for tests/features/test_golden.c, from torchaudio.

Run from the repository root as  /usr/bin/python3 tests/features/gen_fixtures.py
(needs torch + torchaudio and ../shared/data; the C test needs neither).

Writes tests/fixtures/features/:
References are torchaudio's own transforms run in float64 (default dtype set
to float64, so melscale_fbanks, the windows and the STFT are all double) and
stored as float32: torchaudio's float32 path rounds its filterbank to float32
in ways (vectorised linspace, Sleef pow) that no C code can reproduce bit for
bit, and then differs from the exact result by up to ~1.5e-5 absolute in the
filter weights. Each cases.txt line records, as torch32_max_rel, how far
torchaudio's float32 output is from that reference for context.

  input.f32        1.5 s of a RAVDESS clip, mono, resampled to 16 kHz (raw little-endian float32)
  <case>.f32       torchaudio's output for that case, (rows, cols) row-major float32
  cases.txt        one line per file: <what> <file> <rows> <cols> key=value ...
                   what = "features" (sermo_features_compute output, (n_bins, n_frames))
                        | "fbank"    (sermo_features_mel_bank, (n_freqs, n_mels))
                   keys are sermo_feature_params field names; enum values by name.
"""
import os
import sys
import warnings

import torch
import torchaudio
import torchaudio.functional as AF
import torchaudio.transforms as T

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLIP = os.path.join(ROOT, "..", "shared", "data", "ravdess", "Actor_01", "03-01-05-02-01-01-01.flac")
OUT = os.path.join(ROOT, "tests", "fixtures", "features")
SR = 16000

# sermo defaults (torchaudio.transforms.MelSpectrogram's where they overlap).
DEFAULTS = dict(sample_rate=SR, n_fft=400, win_length=0, hop_length=0, window="hann", center=1,
                pad_mode="reflect", power=2.0, n_mels=128, f_min=0.0, f_max=0.0, mel_scale="htk",
                mel_norm_slaney=0, kind="logmel", log_mode="natural", log_offset=1e-6, top_db=80.0,
                n_mfcc=40, deltas=0, delta_win=5)

WINDOWS = {"hann": torch.hann_window, "hamming": torch.hamming_window,
           "rect": lambda n: torch.ones(n)}


def melspec(x, p):
    """torchaudio.transforms.MelSpectrogram for sermo params p."""
    win = p["win_length"] or p["n_fft"]
    hop = p["hop_length"] or win // 2
    t = T.MelSpectrogram(sample_rate=p["sample_rate"], n_fft=p["n_fft"], win_length=win, hop_length=hop,
                         f_min=p["f_min"], f_max=p["f_max"] or None, n_mels=p["n_mels"],
                         window_fn=WINDOWS[p["window"]], power=p["power"], center=bool(p["center"]),
                         pad_mode=p["pad_mode"], norm="slaney" if p["mel_norm_slaney"] else None,
                         mel_scale=p["mel_scale"])
    return t(x)


def with_deltas(y, p):
    rows = [y]
    for _ in range(p["deltas"]):
        rows.append(AF.compute_deltas(rows[-1], win_length=p["delta_win"]))
    return torch.cat(rows, dim=0)


def features(x, p):
    """What sermo_features_compute must return for params p."""
    if p["kind"] == "mel":
        y = melspec(x, p)
    elif p["kind"] == "logmel":
        m = melspec(x, p)
        if p["log_mode"] == "natural":
            y = torch.log(m + p["log_offset"])
        else:
            stype = "power" if p["power"] == 2.0 else "magnitude"
            y = T.AmplitudeToDB(stype, top_db=p["top_db"] if p["top_db"] > 0 else None)(m)
    else:
        win = p["win_length"] or p["n_fft"]
        melkw = dict(n_fft=p["n_fft"], win_length=win, hop_length=p["hop_length"] or win // 2,
                     f_min=p["f_min"], f_max=p["f_max"] or None, n_mels=p["n_mels"],
                     window_fn=WINDOWS[p["window"]], power=p["power"], center=bool(p["center"]),
                     pad_mode=p["pad_mode"], norm="slaney" if p["mel_norm_slaney"] else None,
                     mel_scale=p["mel_scale"])
        assert p["top_db"] == 80.0, "torchaudio's MFCC fixes top_db at 80"
        y = T.MFCC(sample_rate=p["sample_rate"], n_mfcc=p["n_mfcc"], norm="ortho", melkwargs=melkw)(x)
    return with_deltas(y, p)


CASES = [
    # torchaudio.transforms.MelSpectrogram defaults.
    ("mel_default", dict(kind="mel")),
    # Hamming window shorter than n_fft, Slaney scale + area norm, magnitude.
    ("mel_slaney_mag", dict(kind="mel", n_fft=512, hop_length=160, win_length=400, window="hamming",
                            n_mels=64, f_min=50.0, f_max=7600.0, mel_scale="slaney",
                            mel_norm_slaney=1, power=1.0)),
    ("mel_nocenter", dict(kind="mel", n_fft=400, hop_length=160, n_mels=40, center=0)),
    ("mel_constpad_rect", dict(kind="mel", n_fft=256, hop_length=128, win_length=200, window="rect",
                               pad_mode="constant", n_mels=32)),
    ("logmel_db", dict(kind="logmel", log_mode="db", top_db=80.0)),
    ("logmel_db_mag", dict(kind="logmel", log_mode="db", top_db=60.0, n_fft=512, hop_length=160,
                           win_length=400, n_mels=64, power=1.0)),
    ("logmel_natural", dict(kind="logmel", n_fft=512, hop_length=160, win_length=400, n_mels=80)),
    ("logmel_natural_d1w9", dict(kind="logmel", n_fft=512, hop_length=160, win_length=400, n_mels=40,
                                 deltas=1, delta_win=9)),
    ("mfcc40", dict(kind="mfcc", n_mfcc=40, n_fft=512, hop_length=160, win_length=400, n_mels=64)),
    ("mfcc13_d2", dict(kind="mfcc", n_mfcc=13, n_fft=512, hop_length=160, win_length=400, n_mels=40,
                       f_min=20.0, f_max=7600.0, deltas=2)),
]

FBANKS = [
    ("fbank_htk", dict(n_fft=400, n_mels=128, f_min=0.0, f_max=0.0, mel_scale="htk", mel_norm_slaney=0)),
    ("fbank_htk_norm", dict(n_fft=512, n_mels=40, f_min=20.0, f_max=7600.0, mel_scale="htk",
                            mel_norm_slaney=1)),
    ("fbank_slaney", dict(n_fft=512, n_mels=64, f_min=50.0, f_max=7600.0, mel_scale="slaney",
                          mel_norm_slaney=0)),
    ("fbank_slaney_norm", dict(n_fft=1024, n_mels=80, f_min=0.0, f_max=8000.0, mel_scale="slaney",
                               mel_norm_slaney=1)),
]


def fmt(v):
    return repr(float(v)) if isinstance(v, float) else str(v)


def rel_err(a, b):
    """max |a - b| / (|b| + 1e-5 max|b|): torchaudio float32 versus the reference."""
    return float(((a.double() - b).abs() / (b.abs() + 1e-5 * b.abs().max())).max())


def save(name, y):
    y = y.contiguous().to(torch.float32)
    with open(os.path.join(OUT, name + ".f32"), "wb") as f:
        f.write(y.numpy().astype("<f4").tobytes())
    return y.shape


def main():
    # n_mels 128 over 201 bins leaves empty filters; torchaudio warns, sermo copes.
    warnings.filterwarnings("ignore", message="At least one mel filterbank has all zero values")
    if not os.path.exists(CLIP):
        sys.exit(f"missing {CLIP}: run from the repository root with ../shared/data present")
    os.makedirs(OUT, exist_ok=True)
    wav, sr = torchaudio.load(CLIP)
    wav = wav.mean(dim=0)
    # 1.5 s from 0.9 s: the end of the leading silence and the start of the voiced part.
    seg = wav[int(0.9 * sr): int(2.4 * sr)]
    x = AF.resample(seg, sr, SR).to(torch.float32).contiguous()
    save("input", x)
    x64 = x.double()
    lines = [f"input input.f32 1 {x.shape[0]}"]
    for name, over in CASES:
        p = dict(DEFAULTS, **over)
        torch.set_default_dtype(torch.float64)
        ref = features(x64, p)
        torch.set_default_dtype(torch.float32)
        t32 = rel_err(features(x, p), ref)
        rows, cols = save(name, ref)
        kv = " ".join(f"{k}={fmt(p[k])}" for k in DEFAULTS)
        lines.append(f"features {name}.f32 {rows} {cols} {kv} torch32_max_rel={t32:.3g}")
    for name, over in FBANKS:
        p = dict(DEFAULTS, **over)
        def fbank():
            return AF.melscale_fbanks(p["n_fft"] // 2 + 1, p["f_min"], p["f_max"] or float(SR // 2), p["n_mels"],
                                      SR, norm="slaney" if p["mel_norm_slaney"] else None, mel_scale=p["mel_scale"])
        torch.set_default_dtype(torch.float64)
        ref = fbank()
        torch.set_default_dtype(torch.float32)
        t32 = rel_err(fbank(), ref)
        rows, cols = save(name, ref)
        kv = " ".join(f"{k}={fmt(p[k])}" for k in DEFAULTS)
        lines.append(f"fbank {name}.f32 {rows} {cols} {kv} torch32_max_rel={t32:.3g}")
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("# generated by tests/features/gen_fixtures.py (torch %s, torchaudio %s); do not edit\n"
                % (torch.__version__, torchaudio.__version__))
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
