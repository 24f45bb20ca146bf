"""fairseq-autoassist: AutoAssist (Zhang, Yu & Dhillon, NeurIPS 2019) as a fairseq plugin.

torch and fairseq are deliberately not in install_requires: fairseq-fixed must be built against
the torch already installed (``--no-build-isolation``), and its own requirement of torchaudio,
which text tasks never import, would pull a multi-GB CUDA torch. ``scripts/install.sh`` installs
them in the right order; the fairseq version it installs is pinned here (``FAIRSEQ``, the extra
``fairseq``), and the plugin is tested with that version only.

The wheel holds the plugin (``fairseq_autoassist``) and its console commands
(``fairseq_autoassist_cli``, the data report included). ``data_prep`` and ``scripts`` are tools of
the repository, run from its root (``python -m data_prep.prepare``): they find the shared data
next to the checkout, and ``data_prep`` is too generic a name to claim in site-packages.
"""

from setuptools import find_packages, setup

FAIRSEQ = "fairseq-fixed==0.12.3.1"  # scripts/install.sh installs this version

setup(
    name="fairseq-autoassist",
    version="0.1.0",
    description="AutoAssist for fairseq: a light Assistant decides which sentence pairs the NMT model trains on",
    python_requires=">=3.11",
    packages=find_packages(include=["fairseq_autoassist", "fairseq_autoassist.*",
                                    "fairseq_autoassist_cli", "fairseq_autoassist_cli.*"]),
    install_requires=[
        "numpy",
        "scipy",
        "sentencepiece",
        "sacrebleu>=2",
        "matplotlib",
        "tensorboardX",
        "py3langid",  # the data report's language-ID signal (its model ships in the wheel)
    ],
    extras_require={"test": ["pytest", "pytest-xdist", "hypothesis"], "fairseq": [FAIRSEQ]},
    entry_points={"console_scripts": [
        "fairseq-autoassist-dir=fairseq_autoassist_cli.user_dir:main",
        "fairseq-autoassist-torchrun=fairseq_autoassist_cli.torchrun:main",
        "fairseq-autoassist-report=fairseq_autoassist_cli.report.cli:main",
        "fairseq-autoassist-flags=fairseq_autoassist_cli.flags:main",
    ]},
)
