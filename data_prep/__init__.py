"""Data preparation for fairseq-autoassist: raw parallel text -> fairseq binaries.

``data_prep.prepare`` is the generic entry point; ``multi30k``, ``wmt_news``,
``wmt14_en_de`` and ``iwslt14`` are thin per-corpus recipes over it, sharing the
download/extraction helpers in ``data_prep.fetch``.
"""
