#!/usr/bin/env bash
# The main job, end to end on Multi30k de-en: install, prepare the data, train the stock baseline
# (--assistant-off, identical to --task translation) and AutoAssist briefly with the same flags and
# seed, evaluate both with fairseq-generate (beam 5, sacrebleu on detokenized text), print BLEU,
# wall time and AutoAssist's keep rate per epoch.
#
# Environment: EPOCHS (default 3), OUT (default runs/demo), DATA (default data-bin/multi30k_de_en),
# RAW (a local copy of the Multi30k raw files; default: ../shared/data/multi30k if present, else
# the public release is downloaded), SKIP_INSTALL=1 to skip scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-3}
OUT=${OUT:-runs/demo}
DATA=${DATA:-data-bin/multi30k_de_en}
[ "${SKIP_INSTALL:-0}" = 1 ] || bash scripts/install.sh

python3 -m data_prep.multi30k --dest "$DATA" ${RAW:+--raw-dir "$RAW"}

# a small Transformer that learns Multi30k on 2 CPU cores in minutes per epoch (the curves' preset)
mapfile -t PRESET < <(python3 scripts/presets.py transformer-cpu)
MODEL=("${PRESET[@]}" --label-smoothing 0.1 --seed 1 --max-epoch "$EPOCHS" --no-epoch-checkpoints
       --log-format simple --log-interval 50)
DEVICE=()
python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || DEVICE=(--cpu)

for run in baseline autoassist; do
    if [ $run = baseline ]; then
        TASK=(--task autoassist_translation --assistant-off --criterion label_smoothed_cross_entropy)
    else
        TASK=(--task autoassist_translation --criterion autoassist_label_smoothed_cross_entropy)
    fi
    rm -rf "$OUT/$run"; mkdir -p "$OUT/$run"
    echo "== training $run ($EPOCHS epochs)"
    fairseq-train "$DATA" --user-dir fairseq_autoassist "${TASK[@]}" "${MODEL[@]}" "${DEVICE[@]}" \
        --save-dir "$OUT/$run" > "$OUT/$run/train.log" 2>&1
    echo "== evaluating $run"
    fairseq-generate "$DATA" --user-dir fairseq_autoassist --task autoassist_translation \
        --path "$OUT/$run/checkpoint_last.pt" --beam 5 --batch-size 128 "${DEVICE[@]}" \
        --remove-bpe sentencepiece --scoring sacrebleu > "$OUT/$run/generate.log" 2>&1
done
python3 scripts/summary.py "$OUT/baseline" "$OUT/autoassist"
