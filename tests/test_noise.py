"""The noise signals (fairseq_autoassist.noise, the skip-noise rule's; the report's own in
fairseq_autoassist_cli.report.noise_signals): each signal on small hand-made corpora, expected
values worked out by hand."""

import sys

import numpy as np
import pytest
import torch

from fairseq_autoassist import noise
from fairseq_autoassist.tokens import TokenTable
from fairseq_autoassist_cli.report import noise_signals

V = 20  # vocabulary: ids 0-3 are fairseq's specials, 2 the end of sentence


class Tables:
    def __init__(self, src, tgt):
        self.src = _table(src)
        self.tgt = _table(tgt)

    def __len__(self):
        return len(self.src)


def _table(sentences):
    items = [torch.tensor(s + [2]) for s in sentences]
    return TokenTable(items, [len(x) for x in items])


def test_copy_share_counts_target_tokens_found_in_the_source():
    t = Tables(src=[[4, 5, 6], [4, 5, 6], [7, 8], [9]],
               tgt=[[4, 5, 6], [10, 11, 12], [7, 13, 14, 15], [9, 9]])
    # a copy; nothing shared; 1 of 4 target tokens; 2 of 2 (a repeated token counts each time)
    assert noise.copy_share(t, V).tolist() == [1.0, 0.0, 0.25, 1.0]


def test_duplicates_finds_reordered_bags_on_either_side():
    t = Tables(src=[[4, 5, 6], [6, 5, 4], [4, 5], [7, 8], [9]],
               tgt=[[10, 11], [12], [13], [14, 15], [15, 14]])
    # pairs 0 and 1 share a source bag, 3 and 4 a target bag, 2 is alone
    np.testing.assert_allclose(noise.duplicates(t, V), np.log([2, 2, 1, 2, 2]))


def test_similar_sources_are_the_most_similar_candidates():
    # 4 is in every source; 9 in sources 0, 1, 2 and 5; 12 and 13 in sources 0 and 1 only;
    # source 3 has the same bag as source 4 (reordered) and nothing else in common with anyone
    t = Tables(src=[[9, 12, 13], [9, 12, 13, 14, 4], [9, 4], [15, 16], [16, 15], [9, 17], [18]],
                tgt=[[5]] * 7)
    nb = noise_signals.similar_sources(t.src, noise_signals.tfidf(t.src, V))
    assert nb[0] == 1 and nb[1] == 0  # they share 9, 12 and 13; source 2 or 5 only 9
    assert nb[2] in (1, 5) and nb[5] in (0, 1, 2)
    assert nb[3] == -1 and nb[4] == -1  # the same bag is no alternative
    assert nb[6] == -1  # 18 is in no other source


def test_length_ratio_is_two_sided():
    src = np.array([10] * 20 + [40, 10])
    tgt = np.array([10] * 20 + [10, 40])
    z = noise.length_ratio(src, tgt)
    assert z[-1] == z[-2] > 3 and (z[:20] < 1).all()


def test_evidence_follows_fixed_rules():
    signals = {"language": np.array([-3.0, 2.5, np.nan]),
               "copy": np.array([0.2, 0.5, 1.0]),
               "duplicates": np.log([1.0, 2.0, 20.0]),
               "length_ratio": np.array([1.0, 3.5, 2.0])}
    e = noise.evidence(signals)
    np.testing.assert_allclose(e["language"], [0.0, 2.5, 0.0])
    np.testing.assert_allclose(e["copy"], [0.0, 0.0, 5.0])
    np.testing.assert_allclose(e["duplicates"], [0.0, 0.0, 2 * np.log(10)])
    np.testing.assert_allclose(e["length_ratio"], [0.0, 0.5, 0.0])


def _score_signals():
    # 11 pairs; 0-9 the bulk, language log-odds -10, -9, ..., -1; pair 10 a copy in the expected
    # language (-10): median -6, MAD 3 (robust s.d. 1.4826 x 3); lengths and bags ordinary
    language = np.r_[np.arange(-10.0, 0.0), -10.0]
    return {"language": language, "copy": np.r_[np.full(10, 0.2), 1.0],
            "duplicates": np.zeros(11), "length_ratio": np.zeros(11),
            "contrast": np.r_[np.arange(10.0, 0.0, -1.0), np.nan],
            "contrast_similar": np.r_[np.full(10, np.nan), 2.0], "trust": np.full(11, 0.5)}


def test_trusted_score_adds_the_source_contrasts_times_trust():
    s = _score_signals()
    contrast = np.r_[np.arange(10.0, 0.0, -1.0), 2.0]  # the mean of the known ones
    np.testing.assert_allclose(noise_signals.noise_score(s, 1.0),
                               np.r_[np.zeros(10), 5.0] + 0.5 * contrast)


def test_untrusted_score_is_the_data_evidence_ordered_by_the_data_signals():
    """An untrusted Boss's contrasts (weight 0) count for nothing: the score is the data evidence,
    and the pairs without evidence rank by their graded signals' robust z less 3 (at most 0)."""
    s = _score_signals()
    z = (s["language"] + 6.0) / (1.4826 * 3.0)  # length ratio and duplicates: z 0
    expected = np.minimum(np.maximum(z, 0.0) - 3.0, 0.0) + np.r_[np.zeros(10), 5.0]
    score = noise_signals.noise_score(s, 0.0)
    np.testing.assert_allclose(score, expected)
    assert (np.diff(score[5:10]) > 0).all()  # the nearer another language, the higher
    s["contrast"] = s["contrast"][::-1]
    np.testing.assert_allclose(noise_signals.noise_score(s, 0.0), expected)
    # half trusted: half of each order
    trusted = noise_signals.noise_score(s, 1.0)
    np.testing.assert_allclose(noise_signals.noise_score(s, 0.5), (expected + trusted) / 2)
    assert [noise_signals.boss_weight(g) for g in (None, np.nan, -0.2, 0.25, 1.0, 3.0)] == \
        [0.0, 0.0, 0.0, 0.25, 1.0, 1.0]


def test_heuristic_flags_count_failed_filters():
    flags = noise_signals.heuristic_flags(src_len=[10, 10, 40, 10], tgt_len=[10, 10, 10, 12],
                                  copy=[0.1, 0.95, 0.0, np.nan],
                                  src_language=[-2.0, -2.0, 1.0, np.nan],
                                  tgt_language=[-1.0, 0.5, -1.0, -1.0])
    assert flags.tolist() == [0, 2, 2, 0]


def test_language_mismatch_sees_the_wrong_language():
    ident = noise.language_identifier()
    texts = ["The children are playing football in the park with their father.",
             "Die Kinder spielen mit ihrem Vater im Park Fußball.",
             "Les enfants jouent au football dans le parc avec leur père."]
    m = noise.language_mismatch(texts, "en", ident)
    assert m[0] < 0 < m[1] and m[2] > 0
    assert np.isnan(noise.language_mismatch(texts, "xx-unknown", ident)).all()


def test_missing_language_package_names_it_and_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "py3langid", None)  # import fails
    monkeypatch.setitem(sys.modules, "py3langid.langid", None)
    with pytest.raises(noise.NoiseError, match=r"py3langid: pip install py3langid"):
        noise.language_identifier()


def test_source_trust_follows_the_gain_of_similar_sources():
    # sources with token 4 ("captions") have a large gain, sources with 5 ("crawl") none
    src = [[4, 6 + i % 3] for i in range(40)] + [[5, 10 + i % 3] for i in range(40)]
    t = Tables(src=src, tgt=[[6]] * 80)
    gain = np.array([2.0] * 40 + [0.0] * 40)
    trust = noise_signals.source_trust(noise_signals.tfidf(t.src, V)[0], gain, damp=0.1)
    assert trust[:40].min() > 0.8 and trust[40:].max() < 0.2
