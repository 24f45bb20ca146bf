#!/usr/bin/env bash
# Install fairseq-autoassist and what it needs, in the order that keeps pip from pulling a CUDA
# build of torch: torch (CPU wheel unless TORCH_SPEC says otherwise; TORCH_SPEC=skip keeps the
# installed one), then fairseq-fixed built against it with --no-build-isolation and without its
# torchaudio requirement, then this package (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PYTHON:-python3} -m pip"
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ "$TORCH_SPEC" != skip ]; then $PIP install -q "$TORCH_SPEC"; fi
$PIP install -q numpy cython setuptools wheel
# fairseq-fixed 0.12.3.1's requirements, less torchaudio (never imported by text tasks)
$PIP install -q cffi "hydra-core==1.3.2" "omegaconf==2.3.0" regex "sacrebleu>=2" tqdm bitarray \
    scikit-learn packaging
FAIRSEQ=$(sed -n 's/^FAIRSEQ = "\(.*\)".*/\1/p' setup.py)  # the version setup.py pins
if ! ${PYTHON:-python3} -c "import fairseq" 2>/dev/null; then
    $PIP install -q --no-build-isolation --no-deps "$FAIRSEQ"
fi
$PIP install -q -e ".[test]"
${PYTHON:-python3} -c "import fairseq, torch; print('fairseq', fairseq.__version__, '| torch', torch.__version__)"
