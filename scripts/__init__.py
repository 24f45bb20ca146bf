"""The experiment scripts, run from the repository root as modules (``python -m scripts.curve``,
``python -m scripts.bench``; ``scripts/curve.sh`` and ``scripts/demo.sh`` do so): ``curve`` (update
curves) and ``frontier`` (the compute-matched protocol) train with ``training``, evaluate with
``evaluation`` and share ``common`` and ``presets``."""
