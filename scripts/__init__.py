"""The experiment scripts, run from the repository root through one command,
``python -m scripts.experiment COMMAND`` (``scripts/demo.sh`` does so; ``scripts/gpu_check.py`` is
the GPU check): ``curve`` (update curves) and ``frontier`` (the compute-matched protocol) train
with ``training``, evaluate with ``evaluation``, write ``results`` (the compact layout docs/
keeps) and share ``common``, ``labels`` and ``presets``."""
