"""Focused tests of the plugin's pieces, in-process (no --user-dir here)."""

import io
import json
import logging

import numpy as np
import pytest
import torch
from fairseq import options, tasks
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
from fairseq.dataclass.utils import convert_namespace_to_omegaconf

import fairseq_autoassist  # noqa: F401  (registers the task and criterion)
from fairseq_autoassist.assistant import Assistant, roc_auc
from fairseq_autoassist.autoassist import AutoAssist
from fairseq_autoassist.plan import Batcher, draws, fit
from fairseq_autoassist.rules import paper_keep_prob
from fairseq_autoassist.task import AutoAssistTranslationConfig
from fairseq_autoassist.tokens import TokenTable
from runs import ARCHS


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def setup(m30k):
    """Task (autoassist_translation), a tiny transformer without dropout, the valid split."""
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [
        str(m30k), "--task", "autoassist_translation", "-s", "de", "-t", "en",
        "--criterion", "autoassist_label_smoothed_cross_entropy", "--label-smoothing", "0.1",
        *ARCHS["transformer"], "--dropout", "0", "--cpu",
    ])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    task.load_dataset("valid")
    torch.manual_seed(1)
    model = task.build_model(cfg.model)
    return task, cfg, model, task.dataset("valid")


class Tables:
    def __init__(self, src, tgt):
        self.src, self.tgt = src, tgt

    def __len__(self):
        return len(self.src)


def synthetic(n=6000, vocab=300, seed=0):
    """Random sentences; a pair is hard (about half of them) when its source holds one of the
    tokens 4..19 or its target one of the tokens 20..29."""
    rng = np.random.default_rng(seed)
    sides = []
    for _ in range(2):
        lengths = rng.integers(4, 20, n)
        sents = [torch.from_numpy(rng.integers(4, vocab, k)) for k in lengths]
        sides.append(TokenTable(sents, lengths))
    tables = Tables(*sides)
    hard = np.array([(sides[0].gather([i])[0] < 20).any() or
                     ((sides[1].gather([i])[0] >= 20) & (sides[1].gather([i])[0] < 30)).any()
                     for i in range(n)])
    loss = np.where(hard, 6.0, 3.0) + rng.normal(0, 0.3, n)
    return tables, hard, loss, vocab


# ------------------------------------------------------------------ criterion
def _loss_and_grads(criterion, model, sample, **autocast):
    model.zero_grad()
    with torch.autocast("cpu", **autocast) if autocast else torch.autocast("cpu", enabled=False):
        loss, sample_size, logging_output = criterion(model, sample)
    loss.backward()
    grads = [p.grad.detach().clone() for p in model.parameters() if p.grad is not None]
    return loss.detach(), sample_size, logging_output, grads


@pytest.mark.parametrize("precision", ["fp32", "autocast-bf16", "half-weights"])
def test_criterion_equals_label_smoothed_cross_entropy(setup, precision):
    task, cfg, model, valid = setup
    ours = task.build_criterion(cfg.criterion)
    stock = LabelSmoothedCrossEntropyCriterion(task, sentence_avg=False, label_smoothing=0.1)
    sample = valid.collater([valid[i] for i in range(24)])
    model.train()
    autocast = {}
    if precision == "autocast-bf16":
        autocast = {"dtype": torch.bfloat16}
    if precision == "half-weights":
        model = model.half()
    try:
        a = _loss_and_grads(stock, model, sample, **autocast)
        b = _loss_and_grads(ours, model, sample, **autocast)
        per_sentence, ntokens = ours.pop_sentence_losses()
    finally:
        model.float()
    assert torch.equal(a[0], b[0]) and a[1] == b[1]
    assert {k: float(v) for k, v in a[2].items()} == {k: float(v) for k, v in b[2].items()}
    assert len(a[3]) == len(b[3]) > 0
    for ga, gb in zip(a[3], b[3]):
        torch.testing.assert_close(ga, gb, rtol=1e-6, atol=1e-6)
    # the per-sentence losses: fp32, detached, one per sentence, summing to the batch loss
    assert per_sentence.dtype == torch.float32 and not per_sentence.requires_grad
    assert per_sentence.shape == ntokens.shape == (24,)
    assert int(ntokens.sum()) == sample["ntokens"]
    torch.testing.assert_close(per_sentence.sum(), b[0].float(), rtol=1e-2 if precision != "fp32" else 1e-5, atol=1e-3)
    assert ours.pop_sentence_losses() is None


def test_criterion_keeps_no_sentence_losses_in_eval(setup):
    task, cfg, model, valid = setup
    ours = task.build_criterion(cfg.criterion)
    model.eval()
    with torch.no_grad():
        ours(model, valid.collater([valid[i] for i in range(4)]))
    assert ours.pop_sentence_losses() is None


# ------------------------------------------------------------------ assistant
@pytest.mark.parametrize("features", ["bow", "tfidf"])
def test_assistant_learns_a_synthetic_rule(features):
    tables, hard, loss, vocab = synthetic()
    a = Assistant(tables, vocab, vocab, features=features, warmup_epochs=1)
    rng = np.random.default_rng(1)
    ntok = tables.tgt.sizes.astype(float)
    for epoch in (1, 2, 3):
        a.begin_epoch(epoch, len(tables))
        order = rng.permutation(len(tables))
        for lo in range(0, len(order), 64):
            ids = order[lo:lo + 64]
            a.learn(tables, ids, loss[ids] * ntok[ids], ntok[ids])
    stats = a.epoch_stats()
    assert stats["assistant_acc"] > 0.85, stats
    assert stats["assistant_auc"] > 0.9, stats
    q = a.hard_prob(tables, np.arange(len(tables)))
    assert roc_auc(q, hard) > 0.9
    assert a.confidence > 0.8


def test_document_frequency_counts_sentences_not_tokens():
    from fairseq_autoassist.corpus import document_frequency

    tables, _, _, vocab = synthetic(n=1500)
    want = np.zeros(vocab, dtype=np.int64)
    for i in range(len(tables.src)):
        want[np.unique(tables.src.gather([i])[0])] += 1
    np.testing.assert_array_equal(document_frequency(tables.src, vocab), want)


def test_hard_prob_equals_the_learning_path():
    """The planning path (folded IDF weights) gives the probabilities the update path computes."""
    tables, hard, loss, vocab = synthetic(n=2000)
    for features in ("bow", "tfidf"):
        a = Assistant(tables, vocab, vocab, features=features)
        for lo in range(0, 2000, 100):
            ids = np.arange(lo, lo + 100)
            a.learn(tables, ids, loss[ids] * 10, np.full(100, 10.0))
        assert tables.src.in_order and tables.tgt.in_order
        # a few pairs (gathered) and most of them (summed in corpus order, then picked)
        for n in (300, 1900):
            ids = np.random.default_rng(n).permutation(2000)[:n]
            z, _ = a.logits(tables, ids)
            np.testing.assert_allclose(a.hard_prob(tables, ids), 1 / (1 + np.exp(-z)),
                                       rtol=1e-9, atol=1e-12)


def test_assistant_ignores_non_finite_and_repeated_pairs():
    tables, _, loss, vocab = synthetic(n=200)
    a = Assistant(tables, vocab, vocab)
    a.begin_epoch(1, len(tables))
    ids = np.arange(10)
    bad = loss[ids] * 10
    bad[[2, 5]] = [np.inf, np.nan]
    a.learn(tables, ids, bad, np.full(10, 10.0))
    assert a.epoch_count == 8 and a.updates == 1
    a.learn(tables, ids[:4], loss[:4] * 10, np.full(4, 10.0))  # ids 0,1,3 seen: only 2 is new
    assert a.epoch_count == 9 and a.updates == 2
    a.learn(tables, ids[:2], loss[:2] * 10, np.full(2, 10.0))
    assert a.epoch_count == 9 and a.updates == 2  # an amp retry of the same batch counts once
    a.begin_epoch(2, len(tables))
    a.learn(tables, ids[:2], loss[:2] * 10, np.full(2, 10.0))
    assert a.epoch_count == 2  # a new epoch sees every pair again


def test_prev_epoch_mean_splits_by_the_previous_epochs_mean_loss():
    """--assistant-mean prev-epoch: during warm-up the threshold is an EMA of the batch means;
    after it, the mean per-token loss of the pairs learned in the previous epoch, fixed for the
    whole epoch, and pairs above it are labelled hard."""
    tables, _, loss, vocab = synthetic(n=400)
    a = Assistant(tables, vocab, vocab, mean="prev-epoch", warmup_epochs=1, mean_decay=0.5)
    batches = [np.arange(lo, lo + 100) for lo in range(0, 400, 100)]
    ntok = np.full(100, 10.0)
    a.begin_epoch(1, len(tables))
    ema = None
    for ids in batches:
        a.learn(tables, ids, loss[ids] * 10, ntok)
        ema = loss[ids].mean() if ema is None else 0.5 * ema + 0.5 * loss[ids].mean()
    assert a.loss_mean == pytest.approx(ema)
    a.begin_epoch(2, len(tables))
    assert a.loss_mean == pytest.approx(loss.mean())
    later = loss * np.where(np.arange(400) % 2, 3.0, 0.5)
    for ids in batches[:2]:
        a.learn(tables, ids, later[ids] * 10, ntok)
        assert a.loss_mean == pytest.approx(loss.mean())  # fixed within the epoch
    stats = a.epoch_stats()
    assert stats["assistant_pos_rate"] == pytest.approx((later[:200] > loss.mean()).mean())
    a.begin_epoch(3, len(tables))
    assert a.loss_mean == pytest.approx(later[:200].mean())


def test_assistant_state_round_trips_through_weights_only_load():
    tables, _, loss, vocab = synthetic(n=500)
    a = Assistant(tables, vocab, vocab)
    a.begin_epoch(1, len(tables))
    for lo in range(0, 300, 50):
        ids = np.arange(lo, lo + 50)
        a.learn(tables, ids, loss[ids] * 10, np.full(50, 10.0))
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = Assistant(tables, vocab, vocab)
    b.load_state_dict(torch.load(buf, weights_only=True))
    ids = np.arange(len(tables))
    np.testing.assert_array_equal(a.hard_prob(tables, ids), b.hard_prob(tables, ids))
    assert a.epoch_stats() == b.epoch_stats()
    a.learn(tables, np.arange(300, 350), loss[300:350] * 10, np.full(50, 10.0))
    b.learn(tables, np.arange(300, 350), loss[300:350] * 10, np.full(50, 10.0))
    np.testing.assert_array_equal(a.hard_prob(tables, ids), b.hard_prob(tables, ids))


def test_roc_auc():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1]) == 0.0
    assert roc_auc([0.5, 0.5], [0, 1]) == 0.5
    assert np.isnan(roc_auc([0.1, 0.2], [1, 1]))


# ------------------------------------------------------------------ acceptance rule
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 0.9])
def test_keep_rule_matches_its_expectation(p):
    rng = np.random.default_rng(0)
    q = rng.beta(0.5, 0.5, 200_000)
    def keep_mask(seed, p, q):
        return draws(seed, len(q)) < paper_keep_prob(p, q)

    keep = keep_mask((1, 2), p, q)
    expected = p + (1 - p) * q
    sigma = np.sqrt((expected * (1 - expected)).sum()) / len(q)
    assert abs(keep.mean() - expected.mean()) < 4 * sigma
    for lo in (0.0, 0.25, 0.5, 0.75):  # and per group of similar q
        g = (q >= lo) & (q < lo + 0.25)
        assert abs(keep[g].mean() - expected[g].mean()) < 0.01
    np.testing.assert_array_equal(keep, keep_mask((1, 2), p, q))  # seeded
    assert not np.array_equal(keep, keep_mask((1, 3), p, q)) or p == 1.0


# ------------------------------------------------------------------ batching
@pytest.mark.parametrize("max_tokens,max_sentences,mult", [
    (300, None, 8), (1000, None, 8), (None, 7, 8), (500, 13, 3), (200, None, 1)])
def test_batches_never_drop_a_pair(setup, max_tokens, max_sentences, mult):
    task, _, _, valid = setup
    batcher = Batcher(task, valid, max_tokens, max_sentences, (1024, 1024), False, mult, seed=1)
    batches = batcher(valid, 1)
    ids = np.concatenate(batches)
    assert sorted(ids.tolist()) == list(range(len(valid)))  # every index exactly once
    stock = valid.batch_by_size(batcher.candidates(1), max_tokens=max_tokens,
                                max_sentences=max_sentences, required_batch_size_multiple=mult)
    assert all(np.array_equal(a, b) for a, b in zip(stock, batches))  # fairseq's batches, + rest
    assert len(batches) - len(stock) in (0, 1)
    for b in batches:
        assert max_sentences is None or len(b) <= max_sentences
        if max_tokens:
            assert len(b) * max(valid.num_tokens(i) for i in b) <= max_tokens


@pytest.mark.parametrize("shift", [-4, -1, 0, 1, 4])
def test_fit_fills_the_budget_exactly_from_the_top_of_the_ranking(setup, shift):
    """Re-planning a chunk: exactly *budget* batches, a duplicate-free subset of the chunk under
    the token limit, made of the highest-margin pairs (the rule's kept pairs first)."""
    task, _, _, valid = setup
    batcher = Batcher(task, valid, 200, None, (1024, 1024), False, 8, seed=1)
    cand = batcher.candidates(1)
    margin = np.random.default_rng(shift + 10).normal(0, 1, len(cand))
    budget = len(batcher.pack(cand[margin > 0])) + shift
    batches = fit(batcher, cand, margin, budget)
    assert len(batches) == budget
    ids = np.concatenate(batches)
    assert len(np.unique(ids)) == len(ids) and np.isin(ids, cand).all()
    for b in batches:
        assert len(b) * max(valid.num_tokens(i) for i in b) <= 200
    chosen = np.isin(cand, ids)
    assert 0 < chosen.sum() < len(cand)
    assert margin[chosen].min() > margin[~chosen].max()  # the top of the ranking
    rule = set(cand[margin > 0].tolist())
    assert rule <= set(ids.tolist()) if shift >= 0 else set(ids.tolist()) < rule


class _Stub:
    """An Assistant stand-in: probability of hard 0 for every pair, confidence 1."""
    confidence = 1.0

    def begin_epoch(self, epoch, n):
        pass

    def hard_prob(self, tables, ids):
        return np.zeros(len(ids))

    def checksum(self):
        return 0

    def state_dict(self):
        return {}


def autoassist(task, dataset, batcher, assistant, seed=1, random_rates=None, tmp_path=None,
               **options):
    """An AutoAssist planning *dataset* with *assistant* (a stand-in) and config *options* (the
    paper's rule unless they say otherwise); *random_rates* make it the random control (the rates
    go through a keep-rates file)."""
    options.setdefault("assistant_rule", "paper")
    if random_rates is not None:
        path = tmp_path / "rates.json"
        path.write_text(json.dumps(random_rates))
        options.update(assistant_scorer="random", assistant_keep_rates=str(path))
    cfg = AutoAssistTranslationConfig(max_epoch=100, no_save=True, **options)
    aa = AutoAssist(cfg, dataset, task.src_dict, task.tgt_dict)
    aa.assistant = assistant
    aa.use(dataset, batcher, seed)
    return aa


def test_a_plan_that_keeps_nothing_trains_one_batch(setup, caplog):
    task, _, _, valid = setup
    batcher = Batcher(task, valid, 400, None, (1024, 1024), False, 8, seed=1)
    aa = autoassist(task, valid, batcher, _Stub(), assistant_base_prob=0.0,
                    assistant_warmup_epochs=0)
    with caplog.at_level(logging.INFO):
        plan = aa.plan_epoch(3)
        aa.epoch_started()
    batches, stats = plan.length_batches(), plan.stats()
    assert len(batches) == 1 and stats["kept_pairs"] == len(batches[0]) > 0
    assert plan.keep.sum() == len(batches[0])
    assert "kept no pair" in caplog.text


def test_an_epoch_plan_applies_the_keep_rule(setup):
    """The decisions for an epoch are u < p + (1 - p) q, with the epoch's draws u (numpy's
    generator seeded with (seed, epoch)) and the Assistant's q."""
    task, _, _, valid = setup
    batcher = Batcher(task, valid, 400, None, (1024, 1024), False, 8, seed=1)
    stub = _Stub()
    stub.confidence = 0.2  # p = max(0.3, 1 - 0.2) = 0.8
    stub.hard_prob = lambda tables, ids: (np.asarray(ids) % 7) / 7.0
    plan = autoassist(task, valid, batcher, stub, seed=5, assistant_base_prob=0.3,
                      assistant_warmup_epochs=1).plan_epoch(4)
    cand = plan.candidates
    u = np.random.default_rng((5, 4)).random(len(cand))
    np.testing.assert_array_equal(plan.keep[cand], u < 0.8 + 0.2 * (cand % 7) / 7.0)
    assert plan.keep.sum() == plan.keep[cand].sum() < len(cand)


def test_random_control_drops_at_the_given_rates(setup, tmp_path):
    task, _, _, valid = setup
    batcher = Batcher(task, valid, 400, None, (1024, 1024), False, 8, seed=1)
    stub = _Stub()
    stub.hard_prob = None  # the random control never asks the Assistant
    aa = autoassist(task, valid, batcher, stub, random_rates={1: 1.0, 2: 0.25},
                    tmp_path=tmp_path, assistant_base_prob=0.5, assistant_warmup_epochs=1)
    rates = [aa.plan_epoch(epoch).stats()["keep_rate"] for epoch in (1, 2, 3)]
    assert rates[0] == 1.0
    for r in rates[1:]:  # epoch 3 keeps the last rate
        assert abs(r - 0.25) < 4 * (0.25 * 0.75 / len(valid)) ** 0.5


# ------------------------------------------------------------------ the training step
class _Recorder(_Stub):
    def __init__(self):
        self.seen = []

    def learn(self, tables, ids, losses, ntokens):
        self.seen.append((ids.tolist(), losses.tolist(), ntokens.tolist()))


def test_observe_learns_every_batch_in_order_before_each_plan_point(setup):
    """The Assistant learns from each step's losses one step later, and from every step before a
    chunk is planned again, a checkpoint is written or the epoch's metrics are read."""
    task, _, _, valid = setup
    batcher = Batcher(task, valid, 300, None, (1024, 1024), False, 8, seed=1)
    recorder = _Recorder()
    aa = autoassist(task, valid, batcher, recorder, assistant_warmup_epochs=0,
                    assistant_plan_chunks=2)
    plan = aa.plan_epoch(2)
    trigger = plan.triggers[1]
    assert trigger > 2
    handed_out = [0]  # batches the training iterator has handed out (one rank)
    aa.follow(lambda: handed_out[0])
    steps = [(torch.tensor([k, k + 1]), (torch.tensor([1.5, 2.5]), torch.tensor([3, 4])))
             for k in range(trigger + 2)]

    def step(ids, losses):
        handed_out[0] += 1
        aa.observe(ids, losses)

    for k, (ids, losses) in enumerate(steps[:trigger - 1]):
        step(ids, losses)
        assert len(recorder.seen) == k  # one step behind
    step(*steps[trigger - 1])  # reaches the trigger: learns every step, plans chunk 2
    assert len(recorder.seen) == trigger and plan.planned == 2
    step(steps[trigger][0], None)  # a dummy batch: nothing to learn from
    step(*steps[trigger + 1])
    aa.state_dict(mid_epoch=True)
    assert recorder.seen == [([k, k + 1], [1.5, 2.5], [3.0, 4.0])
                             for k in list(range(trigger)) + [trigger + 1]]


# ------------------------------------------------------------------ ranks
def test_rank_exchange_round_trips_over_several_rounds():
    """A step's (id, loss, tokens) records survive the fixed-size exchange tensor, split over
    rounds of 16 KB; a batch larger than the epoch's rounds allow is refused."""
    from fairseq_autoassist.ranks import PER_ROUND, ROUND_BYTES, Ranks, pack, unpack

    n = 2 * PER_ROUND + 17
    rounds = Ranks.rounds(n)
    assert rounds == 3 and Ranks.rounds(1) == 1
    ids = torch.randperm(10 ** 6)[:n]
    losses = torch.rand(n, dtype=torch.float64) * 50
    ntokens = torch.randint(1, 90, (n,))
    packed = pack(ids, losses, ntokens, rounds)
    assert ROUND_BYTES - 12 < packed[0].numel() * packed.element_size() <= ROUND_BYTES
    (got_ids, got_losses, got_ntokens), = unpack(packed[None].numpy())  # one rank's
    np.testing.assert_array_equal(got_ids, ids.numpy())
    np.testing.assert_array_equal(got_ntokens, ntokens.numpy())
    np.testing.assert_allclose(got_losses, losses.numpy(), rtol=1e-7)  # sent as float32
    (empty, _, _), = unpack(pack(*(torch.zeros(0, dtype=torch.int64),) * 3, 2)[None].numpy())
    assert len(empty) == 0
    with pytest.raises(RuntimeError, match="exceeds the 2 exchange rounds"):
        pack(ids, losses, ntokens, 2)


@pytest.mark.parametrize("chunks", [2, 3])
def test_sharded_plan_gives_each_batch_to_one_rank_as_fairseq_shards(setup, chunks):
    """With chunks (planned as training reaches them), rank r of W takes batches r, r + W, ... of
    the plan and empty batches to make up the length, as fairseq's ShardedIterator; also from a
    resume offset. No batch is larger than the plan's bound for the exchange. (With one chunk
    fairseq shuffles and shards the plan itself.)"""
    from fairseq.data.iterators import ShardedIterator

    task, _, _, valid = setup
    batcher = Batcher(task, valid, 300, None, (1024, 1024), False, 8, seed=1)
    stub = _Stub()
    stub.hard_prob = lambda tables, ids: (np.asarray(ids) % 5) / 5.0
    aa = autoassist(task, valid, batcher, stub, seed=2, assistant_base_prob=0.3,
                    assistant_warmup_epochs=0, assistant_plan_chunks=chunks)
    plan = aa.plan_epoch(2)
    aa.ordered_batches(plan.total, True, 1, 0)  # an epoch resumed at its end: every chunk due
    assert plan.complete
    whole = [b.tolist() for b in aa.ordered_batches(0, True, 1, 0)]
    assert len(whole) == plan.total > 10 and max(map(len, whole)) <= plan.max_pairs
    for shards in (2, 3, 4):
        for shard in range(shards):
            want = list(ShardedIterator(whole, shards, shard, fill_value=[]))
            for offset in (0, 2):
                got = aa.ordered_batches(0, True, shards, shard)[offset:]
                assert len(got) == len(want) - offset
                assert [b.tolist() for b in got] == want[offset:]


def test_ranks_that_disagree_stop_with_an_error():
    """Different Assistants or plans on two ranks raise on every rank, naming the checksums."""
    from fairseq_autoassist.ranks import Ranks

    class TwoRanks(Ranks):
        def __init__(self, other):
            super().__init__()
            self.size, self.other = 2, other

        def agree(self, values):
            return [list(values), self.other(list(values))]

    TwoRanks(lambda v: v).check_same(4, 11, 22, 9)  # equal: no error
    for other in (lambda v: [12, 22, 9], lambda v: [11, 23, 9], lambda v: [11, 22, 8]):
        with pytest.raises(RuntimeError, match=r"epoch 4: the ranks' Assistants or plans differ"):
            TwoRanks(other).check_same(4, 11, 22, 9)


def test_a_frozen_assistant_predicts_but_never_changes():
    tables, _, loss, vocab = synthetic(n=500)
    a = Assistant(tables, vocab, vocab)
    a.begin_epoch(1, len(tables))
    a.learn(tables, np.arange(100), loss[:100] * 10, np.full(100, 10.0))
    frozen = Assistant(tables, vocab, vocab, frozen=True)
    frozen.load_state_dict(a.state_dict(), model_only=True)
    frozen.begin_epoch(1, len(tables))
    before = frozen.checksum()
    ids = np.arange(len(tables))
    probs = frozen.hard_prob(tables, ids)
    for lo in range(100, 500, 100):
        frozen.learn(tables, np.arange(lo, lo + 100), loss[lo:lo + 100] * 10, np.full(100, 10.0))
    assert frozen.checksum() == before and frozen.epoch_count == 400
    mean = frozen.loss_mean
    frozen.begin_epoch(2, len(tables))
    assert frozen.loss_mean == mean and np.isnan(frozen.prev_epoch_mean)
    np.testing.assert_array_equal(frozen.hard_prob(tables, ids), probs)
    a.learn(tables, np.arange(100, 200), loss[100:200] * 10, np.full(100, 10.0))
    assert a.checksum() != before
    with pytest.raises(ValueError, match="vocabularies"):
        Assistant(synthetic(n=50, vocab=40)[0], 40, 40).load_state_dict(a.state_dict())
