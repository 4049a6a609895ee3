#!/bin/bash
# scale.sh: does memory stay flat when the corpus grows? Runs `sermo prepare`
# and one epoch of `sermo train` (cnn3, configs/ravdess.yaml) on RAVDESS and
# on a corpus ten times larger (the actor folders linked under ten prefixes:
# the reader follows links and takes speakers from the file names, so the
# split is RAVDESS's), and prints wall time, CPU time and peak RSS of each.
#   bench/scale.sh [RAVDESS_DIR [WORK_DIR]]
# Needs build/sermo (make) and GNU time (/usr/bin/time). WORK_DIR (default
# /tmp/sermo-scale) receives the linked tree, the caches (~900 MB) and runs.
set -euo pipefail
ravdess=$(realpath "${1:-../shared/data/ravdess}")
work=${2:-/tmp/sermo-scale}
sermo=$(realpath build/sermo)
[ -d "$ravdess" ] || { echo "scale.sh: $ravdess: no such folder" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "scale.sh: needs GNU time (apt-get install time)" >&2; exit 1; }

mkdir -p "$work/x1" "$work/x10"
for a in "$ravdess"/Actor_*; do ln -sfn "$a" "$work/x1/"; done
for k in $(seq 0 9); do
    mkdir -p "$work/x10/c$k"
    for a in "$ravdess"/Actor_*; do ln -sfn "$a" "$work/x10/c$k/"; done
done

measure() { # label, command...
    local label=$1
    shift
    /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >"$work/$label.log" 2>&1
    awk -v l="$label" '{ printf "| %s | %.1f s | %.1f s | %.0f MB |\n", l, $1, $2 + $3, $4 / 1024 }' "$work/time"
}

echo "| run | wall | CPU | peak RSS |"
echo "|---|---:|---:|---:|"
for n in x1 x10; do
    measure "prepare $n" "$sermo" prepare "$work/$n" --config configs/ravdess.yaml --cache "$work/cache-$n"
    measure "train 1 epoch $n" "$sermo" train "$work/$n" --config configs/ravdess.yaml --cache "$work/cache-$n" \
        --out "$work/run-$n" train.epochs=1
done
