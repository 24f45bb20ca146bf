"""The console commands of fairseq-autoassist (``setup.py`` installs them):

- ``fairseq-autoassist-dir`` (:mod:`.user_dir`): print the plugin's directory, for
  ``fairseq-train --user-dir "$(fairseq-autoassist-dir)"``;
- ``fairseq-autoassist-torchrun`` (:mod:`.torchrun`): fairseq-train on several processes and
  machines through torchrun;
- ``fairseq-autoassist-report`` (:mod:`.report`): what the Assistant of a run learned about its
  corpus (likely noise, trivial and hard pairs, selection by length), as a report and a filter.

They live outside the ``fairseq_autoassist`` package: printing its path must not import torch and
fairseq, and fairseq must import the plugin itself, from ``--user-dir``.
"""
