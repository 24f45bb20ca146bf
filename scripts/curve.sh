#!/usr/bin/env bash
# BLEU-versus-time curves: stock baseline, AutoAssist and the random-drop control per seed.
# Example:
#   scripts/curve.sh --data data-bin/multi30k_de_en --arch transformer-cpu --updates 3000 \
#       --eval-every 250 --seeds 1,2 --out runs/curve-transformer-cpu
# See `scripts/curve.sh --help` and docs/README.md.
PYTHONPATH="$(cd "$(dirname "$0")/.." && pwd)${PYTHONPATH:+:$PYTHONPATH}" exec python3 -m scripts.curve "$@"
