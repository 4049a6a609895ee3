#!/usr/bin/env bash
# The demo, in two parts.
# 1. The bundled default model (models/default.safetensors, trained on all of
#    RAVDESS; see models/MODEL_CARD.md) classifies clips it never heard: TESS
#    (other speakers, another studio) and EmoDB (German), then prints a
#    timeline of emotions over a longer recording. Needs ../shared/data (or
#    $SERMO_HELDOUT, a folder with tess/ and emodb/); skipped without it.
# 2. Corpus statistics and a spectrogram of RAVDESS, the default recipe trained
#    speaker-independently (configs/ravdess.yaml) and its test report. RAVDESS
#    is found at $SERMO_DATA, else ../shared/data/ravdess, else data/ravdess,
#    else downloaded into data/ravdess (needs network).
set -euo pipefail
sermo=${SERMO_BIN:-build/sermo}

# The emotion a held-out clip was recorded as, in the default model's label
# names, from its path: TESS's folder suffix or EmoDB's sixth letter.
truth() {
  case "$1" in
    *_pleasant_surprise/*) echo surprised ;;
    *_fear/*) echo fearful ;;
    *_angry/* | *_disgust/* | *_happy/* | *_neutral/* | *_sad/*) basename "$(dirname "$1")" | sed 's/^[A-Z]*_//' ;;
    */emodb/*)
      case "$(basename "$1" | cut -c6)" in
        W) echo angry ;; F) echo happy ;; N) echo neutral ;; T) echo sad ;; *) echo other ;;
      esac ;;
  esac
}

heldout=${SERMO_HELDOUT:-../shared/data}
if [ -d "$heldout/tess" ] && [ -d "$heldout/emodb" ]; then
  clips=()
  for d in "$heldout"/tess/OAF_* "$heldout"/tess/YAF_*; do
    mapfile -t two < <(find "$d" -type f | sort | sed -n '1p;11p')
    clips+=("${two[@]}")
  done
  mapfile -t emodb < <(find "$heldout/emodb" -type f -name '*.wav' | sort | sed -n '1~4p')
  clips+=("${emodb[@]}")
  echo "== sermo predict FILE... (no model given: the bundled default model) on ${#clips[@]} clips it never heard"
  right=0
  while IFS= read -r line; do
    file=${line%%: *}
    rest=${line#*: }
    label=${rest%% *}
    want=$(truth "$file")
    mark=" "
    if [ "$label" = "$want" ]; then right=$((right + 1)); mark="*"; fi
    printf '%s %-60s recorded as %-9s -> %s\n' "$mark" "${file#"$heldout"/}" "$want" "${rest%% |*}"
  done < <("$sermo" predict "${clips[@]}")
  echo "   $right of ${#clips[@]} match the recorded emotion (*). Chance is 1 in 8; these speakers, rooms"
  echo "   and languages are not RAVDESS's, so this is the model's cross-corpus behaviour, not its CV accuracy."
  long=$(find "$heldout/emodb" -type f -name '*.wav' -size +150k | sort | sed -n 1p)
  if [ -n "$long" ]; then
    echo "== sermo predict --segment 2s --hop 1s $long ($(truth "$long"), German)"
    "$sermo" predict --segment 2s --hop 1s "$long"
  fi
else
  echo "== (held-out clips not found at $heldout: set SERMO_HELDOUT to a folder with tess/ and emodb/)"
fi

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
