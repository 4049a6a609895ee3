#!/usr/bin/env bash
# The demo: corpus statistics and a spectrogram of RAVDESS, then the default
# recipe trained speaker-independently (configs/ravdess.yaml) and its test report.
# RAVDESS is found at $SERMO_DATA, else ../shared/data/ravdess, else data/ravdess,
# else downloaded into data/ravdess (needs network).
set -euo pipefail
sermo=${SERMO_BIN:-build/sermo}
data=${SERMO_DATA:-}
if [ -z "$data" ]; then
  for d in ../shared/data/ravdess data/ravdess; do
    if [ -d "$d" ]; then data=$d; break; fi
  done
fi
if [ -z "$data" ]; then
  echo "RAVDESS not found: set SERMO_DATA=/path/to/ravdess, or downloading it into data/ravdess ..."
  data=data/ravdess
  "$sermo" data fetch ravdess --to "$data"
fi
mkdir -p runs/demo
echo "== sermo data stats $data"
"$sermo" data stats "$data"
clip=$(find "$data" -type f \( -name '*.wav' -o -name '*.flac' \) | sort | sed -n 1p)
echo "== sermo spectrogram $clip"
"$sermo" spectrogram "$clip" -o runs/demo/spectrogram.png
echo "== sermo train $data --config configs/ravdess.yaml --out runs/demo"
"$sermo" train "$data" --config configs/ravdess.yaml --out runs/demo
echo "== sermo predict runs/demo/model.safetensors (two held-out test clips)"
"$sermo" predict runs/demo/model.safetensors $(find "$data" -path '*Actor_24*' -type f | sort | sed -n '1p;30p')
echo "demo done: runs/demo/ holds the model, report, confusion matrix and curves"
