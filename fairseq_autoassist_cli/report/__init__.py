"""``fairseq-autoassist-report``: what the Assistant of an ``autoassist_translation`` run learned
about its corpus, as a report a user can act on (:mod:`.cli` runs it).

- :mod:`.load` reads the checkpoint (its Boss, its config, its Assistant) and the binarized corpus,
  and checks them against each other;
- :mod:`.boss` computes every pair's loss under the checkpoint's Boss, with its own source and with
  another pair's (batched forward passes, on a GPU when there is one);
- :mod:`.signals` gathers every pair's noise signals: the data signals of
  :mod:`fairseq_autoassist.noise` (the skip-noise rule's) and the report's own, with its noise
  score, in :mod:`.noise_signals`;
- :mod:`.analysis` turns the per-pair numbers into the report's tables (numpy only);
- :mod:`.write` writes ``report.md``, ``report.json``, ``pairs.csv``, the plots and the filtered
  raw text.
"""
