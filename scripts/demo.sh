#!/usr/bin/env bash
# The main job, end to end on Multi30k de-en: install, prepare the data, then a compute-matched
# comparison (python -m scripts.experiment curve --epochs, docs/README.md): the stock baseline (--assistant-off,
# identical to --task translation) trained for E/2, 3E/4 and E epochs -- three points of its
# quality-versus-compute frontier -- and AutoAssist for E epochs, every run with a learning rate that decays to 0 at its
# own end (--lr-scheduler autoassist_cosine); each evaluated with fairseq-validate (valid NLL) and
# fairseq-generate (beam 5, sacreBLEU on detokenized text). Prints epoch progress while training
# and, at the end, what AutoAssist cost and reached against the baseline.
#
# Environment: EPOCHS (E, default 4, a multiple of 4), RULE (--assistant-rule, default infobatch), OUT (default
# runs/demo), DATA (default data-bin/multi30k_de_en), ARCH (preset, default transformer-128), RAW
# (a local copy of the Multi30k raw files; default: ../shared/data/multi30k if present, else the
# public release is downloaded), SKIP_INSTALL=1 to skip scripts/install.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
EPOCHS=${EPOCHS:-4}
RULE=${RULE:-infobatch}
OUT=${OUT:-runs/demo}
DATA=${DATA:-data-bin/multi30k_de_en}
ARCH=${ARCH:-transformer-128}
[ "${SKIP_INSTALL:-0}" = 1 ] || bash scripts/install.sh

python3 -m data_prep.multi30k --dest "$DATA" ${RAW:+--raw-dir "$RAW"}

python3 -m scripts.experiment curve --data "$DATA" --arch "$ARCH" --epochs "$EPOCHS" --budgets 0.5,0.75,1 \
    --rules "$RULE" --no-controls --seeds 1 --out "$OUT" --max-len-a 1.2 --max-len-b 10
