#!/usr/bin/env bash
# The noise benchmark of docs/noise.md: for each setting, a noisy corpus, a transformer-128 trained
# on it with AutoAssist's defaults, the data report on its last checkpoint, and every signal of
# the report scored against the recorded noise (scripts/noise_eval.py).
#
#   bash scripts/noise_bench.sh SETTING...     (from the repository root; one at a time)
#
# SETTING: crawl (the human-labelled crawl pairs mixed into Multi30k cs-en), mixed (every
# synthetic kind in equal parts, 20% in all, on the 10k Multi30k de-en subset) or one synthetic
# kind at 20% on that subset: misaligned near-miss misordered wrong-language untranslated
# untranslated-reverse short templated. EPOCHS (default 8) and CRAWL_EPOCHS (default 10) set the
# training length.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-8}
CRAWL_EPOCHS=${CRAWL_EPOCHS:-10}
SHARED=${SHARED:-../shared/data}
OUT=${OUT:-docs/noise}
mkdir -p "$OUT" runs data-bin
mapfile -t PRESET < <(python scripts/presets.py transformer-128)
for setting in "$@"; do
    if [ "$setting" = crawl ]; then
        data=data-bin/m30k_cs_en_crawl langs=(cs en) labels=$data/labels.json epochs=$CRAWL_EPOCHS
        python -m data_prep.crawl_mixture --dest "$data" --vocab-size 8000
    else
        data=data-bin/m30k_10k_$setting langs=(de en) labels=$data/corrupted.json epochs=$EPOCHS
        python -m data_prep.multi30k --dest data-bin/m30k_10k --limit-train 10000 --vocab-size 6000
        if [ "$setting" = mixed ]; then kind=(--mixed 0.2); else kind=(--"$setting" 0.2); fi
        other=()
        case $setting in mixed|wrong-language)
            other=(--other-language "$SHARED/multi30k/train.fr.gz" "$SHARED/multi30k/train.cs.gz");;
        esac
        [ -d "$data" ] || python -m data_prep.corrupt --src-dir data-bin/m30k_10k --dest "$data" \
            "${kind[@]}" "${other[@]}" --seed 1
    fi
    run=runs/noise-$setting
    if [ ! -f "$run/checkpoint_last.pt" ]; then
        mkdir -p "$run"
        fairseq-train "$data" -s "${langs[0]}" -t "${langs[1]}" --user-dir fairseq_autoassist \
            --task autoassist_translation --criterion autoassist_label_smoothed_cross_entropy \
            --label-smoothing 0.1 "${PRESET[@]}" --max-epoch "$epochs" --seed 1 --cpu \
            --save-dir "$run" --no-epoch-checkpoints --log-format json --assistant-loss-history \
            > "$run/train.log" 2>&1
    fi
    fairseq-autoassist-report "$data" --path "$run/checkpoint_last.pt" --out "$run/report" \
        --top 30 --cpu > "$run/report.log" 2>&1
    cp "$run/report/report.json" "$OUT/$setting-report.json"
    python -m scripts.noise_eval --pairs "$run/report/pairs.csv" --labels "$labels" \
        --tag "$setting" --out "$OUT/$setting-eval.jsonl" > "$OUT/$setting-eval.txt"
    echo "$setting: $OUT/$setting-eval.txt"
done
