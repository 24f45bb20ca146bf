"""Real fairseq-train / fairseq-generate / fairseq-interactive runs with the plugin, on tiny models
and a small subset of Multi30k."""

import glob

import pytest

from runs import (AUTOASSIST, REPO, USER_DIR, chunk_plans, log_records, plan_batches, plans,
                  progress, records, run, train, updates_per_epoch)


@pytest.mark.parametrize("arch", ["transformer", "lstm", "fconv"])
def test_train_shrinks_epochs_then_generate_and_interactive(m30k, tmp_path, arch):
    save = tmp_path / "ck"
    extra = ["--tensorboard-logdir", tmp_path / "tb"] if arch == "transformer" else []
    _, log = train(m30k, save, *AUTOASSIST, "--max-epoch", "3", "--no-epoch-checkpoints",
                   *extra, arch=arch)

    assert "AutoAssist epoch 3 plan: kept" in log  # for people; scripts read the records
    p = plans(records(save))
    assert [e for e, *_ in p] == [1, 2, 3]
    epoch1, _, epoch3 = p
    assert epoch1[1] == epoch1[2] > 1900 and epoch1[3] == 1.0  # warm-up keeps every pair
    assert epoch3[1] < epoch3[2] and epoch3[3] < 1.0
    epoch_lines = log_records(log, "train")
    assert float(epoch_lines[0]["train_keep_rate"]) == 1.0
    assert float(epoch_lines[2]["train_keep_rate"]) < 1.0
    assert int(float(epoch_lines[2]["train_kept_pairs"])) == epoch3[1]
    for key in ("train_assistant_acc", "train_assistant_auc", "train_assistant_conf"):
        assert key in epoch_lines[2]
    # each finished epoch's Assistant figures are recorded when the next one is planned: those
    # of fairseq's epoch line (the last epoch's are in its checkpoint)
    assistant = {r["epoch"]: r for r in records(save) if r["event"] == "assistant"}
    assert sorted(assistant) == [1, 2]
    for epoch, line in zip((1, 2), epoch_lines):
        for key in ("assistant_acc", "assistant_auc", "assistant_losses"):
            assert round(assistant[epoch][key], 4) == float(line["train_" + key]), (epoch, key)
    steps = updates_per_epoch(log)
    assert steps[2] < steps[0], steps  # a shrunk epoch trains fewer batches

    test_size = 100
    _, out = run(["fairseq-generate", m30k, "--user-dir", USER_DIR,
                  "--task", "autoassist_translation", "--path", save / "checkpoint_last.pt",
                  "--beam", "5", "--batch-size", "16", "--cpu", "-s", "de", "-t", "en",
                  "--remove-bpe", "sentencepiece"])
    assert "BLEU4 = " in out
    assert "Assistant on" not in out  # inference builds no Assistant
    hyps = [line for line in out.splitlines() if line.startswith("H-")]
    assert len(hyps) == test_size  # no sentence lost to --required-batch-size-multiple

    src = (m30k / "valid.raw.de").read_text().splitlines()[:5]
    _, out = run(["fairseq-interactive", m30k, "--user-dir", USER_DIR,
                  "--task", "autoassist_translation", "--path", save / "checkpoint_last.pt",
                  "--beam", "5", "--cpu", "-s", "de", "-t", "en", "--bpe", "sentencepiece",
                  "--sentencepiece-model", m30k / "spm.model"],
                 input="\n".join(src) + "\n")
    assert len([line for line in out.splitlines() if line.startswith("H-")]) == 5

    if arch == "transformer":
        events = glob.glob(str(tmp_path / "tb" / "train" / "events*"))
        assert events and b"keep_rate" in open(events[0], "rb").read()


def test_resume_mid_epoch_continues_the_same_plan(m30k, tmp_path):
    """A run stopped mid-epoch and resumed logs the same plans and losses as one that never
    stopped, and does not warm up again."""
    args = [*AUTOASSIST, "--max-epoch", "4", "--no-epoch-checkpoints",
            "--save-interval-updates", "10", "--update-freq", "2"]
    _, whole_log = train(m30k, tmp_path / "a", *args)
    steps = updates_per_epoch(whole_log)
    stop = steps[0] + steps[1] // 2  # in the middle of epoch 2
    train(m30k, tmp_path / "b", *args, "--max-update", str(stop))
    n = len(records(tmp_path / "b"))
    tokens_at_stop, seconds_at_stop = progress(tmp_path / "b" / "checkpoint_last.pt")
    _, second_log = train(m30k, tmp_path / "b", *args)

    assert "Loaded checkpoint" in second_log
    # the training progress continues from the checkpoint: the same tokens in the end as the run
    # that never stopped, and more seconds than at the stop
    tokens, seconds = progress(tmp_path / "b" / "checkpoint_last.pt")
    assert tokens == progress(tmp_path / "a" / "checkpoint_last.pt")[0] > tokens_at_stop > 0
    assert seconds > seconds_at_stop > 0
    first, second, whole = (records(tmp_path / "b")[:n], records(tmp_path / "b")[n:],
                            records(tmp_path / "a"))
    assert [r["restored"] for r in second if r["event"] == "plan"] == [True, False, False]
    assert [e for e, *_ in plans(second)] == [2, 3, 4]  # no new warm-up epoch 1
    assert plans(first)[:2] + plans(second)[1:] == plans(whole)
    assert plans(second)[0] == plans(whole)[1]
    resumed = log_records(second_log, "train")
    assert len(resumed) == 3
    for got, want in zip(resumed, log_records(whole_log, "train")[1:]):
        for key in ("train_loss", "train_nll_loss", "train_num_updates", "train_keep_rate",
                    "train_kept_pairs", "train_assistant_acc", "train_assistant_auc"):
            assert got[key] == want[key], key


def test_chunked_planning_replans_mid_epoch_keeps_the_length_and_resumes(m30k, tmp_path):
    """--assistant-plan-chunks 4: chunks 2-4 of each epoch are planned again while it trains, half
    a chunk ahead, and the Assistant has learnt meanwhile, so decisions change; every epoch trains
    exactly the batches its start plan fixed; a run stopped mid-epoch resumes the same plans.
    (--num-workers 0 --data-buffer-size 0: the data loader asks for a batch only when training
    needs it, so no chunk is planned early.)"""
    args = [*AUTOASSIST, "--max-epoch", "3", "--no-epoch-checkpoints", "--max-tokens", "500",
            "--assistant-plan-chunks", "4", "--num-workers", "0", "--data-buffer-size", "0",
            "--save-interval-updates", "5", "--update-freq", "2"]
    _, whole_log = train(m30k, tmp_path / "a", *args)
    assert "planning it now" not in whole_log  # no early planning
    whole = records(tmp_path / "a")
    budgets = plan_batches(whole)
    steps = updates_per_epoch(whole_log)
    assert sorted(budgets) == [1, 2, 3]
    assert steps == [-(-budgets[e] // 2) for e in (1, 2, 3)]  # the length the start fixed
    chunks = chunk_plans(whole)
    assert [(e, k) for e, k, *_ in chunks] == [(e, k) for e in (1, 2, 3) for k in (2, 3, 4)]
    assert all(c[3].startswith("after batch") for c in chunks)
    changed = sum(c[7] for c in chunks if c[0] >= 2)
    assert changed > 0  # the Assistant learnt within the epoch and decisions moved
    assert all(c[7] == 0 and c[4] == c[5] for c in chunks if c[0] == 1)  # warm-up keeps all
    epoch_lines = log_records(whole_log, "train")
    assert 0 < float(epoch_lines[2]["train_keep_rate"]) < 1
    complete = [r for r in whole if r["event"] == "complete"]
    assert [r["epoch"] for r in complete] == [1, 2, 3]
    assert [r["kept_pairs"] for r in complete] == [
        int(float(r["train_kept_pairs"])) for r in epoch_lines]  # the plans as trained

    stop = steps[0] + steps[1] + steps[2] // 2  # inside epoch 3, after chunk 2 is planned
    train(m30k, tmp_path / "b", *args, "--max-update", str(stop))
    n = len(records(tmp_path / "b"))
    _, second_log = train(m30k, tmp_path / "b", *args)
    assert "Loaded checkpoint" in second_log
    first, second = records(tmp_path / "b")[:n], records(tmp_path / "b")[n:]
    assert chunk_plans(first) + chunk_plans(second) == chunks
    assert plan_batches(second) == {3: budgets[3]}
    got, want = log_records(second_log, "train")[-1], epoch_lines[2]
    for key in ("train_loss", "train_nll_loss", "train_num_updates", "train_keep_rate",
                "train_kept_pairs", "train_assistant_acc", "train_assistant_auc"):
        assert got[key] == want[key], key


TIMING = ("wps", "ups", "wall", "gb_free")


def metric_lines(log):
    out = []
    for tag in ("train_inner", "train", "valid"):
        for rec in log_records(log, tag):
            out.append((tag, {k: v for k, v in rec.items() if not any(t in k for t in TIMING)}))
    return out


@pytest.mark.parametrize("criterion", ["label_smoothed_cross_entropy",
                                       "autoassist_label_smoothed_cross_entropy"])
def test_assistant_off_is_the_stock_translation_task(m30k, tmp_path, criterion):
    """--assistant-off trains exactly like --task translation: same batches, order, losses.
    (--required-batch-size-multiple 1: with k > 1 stock fairseq drops the last N mod k pairs of
    each split, which our task keeps.)"""
    common = ["--max-epoch", "2", "--no-save", "--required-batch-size-multiple", "1"]
    _, stock = train(m30k, tmp_path / "s", "--task", "translation",
                     "--criterion", "label_smoothed_cross_entropy", *common)
    _, ours = train(m30k, tmp_path / "o", "--user-dir", USER_DIR,
                    "--task", "autoassist_translation", "--assistant-off",
                    "--criterion", criterion, *common)
    assert "AutoAssist epoch" not in ours and not records(tmp_path / "o")
    a, b = metric_lines(stock), metric_lines(ours)
    assert len(a) > 10
    assert a == b


@pytest.mark.parametrize("flag,value,message", [
    ("--assistant-base-prob", "1.5", "--assistant-base-prob must be in [0, 1]"),
    ("--assistant-warmup-epochs", "-1", "--assistant-warmup-epochs must be >= 0"),
    ("--assistant-lr", "0", "--assistant-lr must be > 0"),
    ("--assistant-features", "chars", "--assistant-features: invalid choice"),
    ("--assistant-scorer", "random", "--assistant-scorer random needs --assistant-keep-rates FILE"),
])
def test_bad_options_are_rejected_naming_the_flag(m30k, tmp_path, flag, value, message):
    rc, out = train(m30k, tmp_path, *AUTOASSIST, flag, value, "--max-epoch", "1", check=False)
    assert rc != 0
    assert message in out
    assert "begin training epoch" not in out
    if flag != "--assistant-features":  # argparse's own error for a choice
        assert rc == 1 and "Traceback" not in out


def test_criterion_without_sentence_losses_fails_at_start(m30k, tmp_path):
    rc, out = train(m30k, tmp_path, "--user-dir", USER_DIR, "--task", "autoassist_translation",
                    "--criterion", "label_smoothed_cross_entropy", "--max-epoch", "1", check=False)
    assert rc != 0
    assert "needs per-sentence losses" in out and "--criterion autoassist_label_smoothed" in out
    assert "begin training epoch" not in out and "Traceback" not in out


def test_autoassist_cosine_under_another_task_stops_before_an_update(m30k, tmp_path):
    """--lr-scheduler autoassist_cosine decays over the training iterator that --task
    autoassist_translation hands it. Under stock --task translation (the plugin loaded by
    --user-dir) fairseq-train stops as the first epoch begins, naming the flag and the task to
    use, instead of training at the warm-up's rate 0 throughout."""
    rc, out = train(m30k, tmp_path, "--user-dir", USER_DIR, "--task", "translation",
                    "--criterion", "label_smoothed_cross_entropy",
                    "--lr-scheduler", "autoassist_cosine", "--warmup-updates", "5",
                    "--max-epoch", "1", "--max-update", "2", "--log-interval", "1", check=False)
    assert rc == 1 and "Traceback" not in out, out[-3000:]
    assert ("autoassist_cosine: error: --lr-scheduler autoassist_cosine follows the training "
            "data of --task autoassist_translation") in out, out[-3000:]
    assert not log_records(out, "train_inner") and not list(tmp_path.glob("*.pt"))


def test_checkpoints_load_with_weights_only(m30k, tmp_path):
    """torch >= 2.6 loads weights_only; the plugin's checkpoints (Assistant state included)
    load so once it is imported (as --user-dir does)."""
    _, log = train(m30k, tmp_path, *AUTOASSIST, "--max-epoch", "2", "--save-interval-updates", "3",
                   "--no-epoch-checkpoints", "--keep-interval-updates", "-1")
    last = int(log_records(log, "train")[-1]["train_num_updates"])
    mid = sorted(glob.glob(str(tmp_path / "checkpoint_2_*.pt")))
    mid = [c for c in mid if int(c.rsplit("_", 1)[1][:-3]) < last]
    assert mid
    # the file as fairseq-train/-generate load it; and as a distributed resume sees it: rank 0
    # loads the checkpoint and fairseq broadcasts it pickled (its config now an OmegaConf
    # DictConfig, tensors sent apart, placeholders in their stead, as fairseq's broadcast_object
    # does), and the other ranks unpickle it with weights_only
    code = (
        "import io, sys, torch; sys.path.insert(0, %r);"
        "import fairseq_autoassist; from fairseq import checkpoint_utils;"
        "from fairseq.distributed import utils as du;"
        "s = torch.load(%r, weights_only=True);"
        "aa = s['extra_state']['train_iterator']['autoassist'];"
        "p = s['extra_state']['train_iterator']['training_progress'];"
        "print('OK', aa['keep_epoch'], int(aa['keep'].sum()), aa['assistant']['updates'],"
        "      p['trained_target_tokens'], p['train_seconds']);"
        "s = du._split_tensors_from_obj(checkpoint_utils.load_checkpoint_to_cpu(%r), []);"
        "b = io.BytesIO(); torch.save(s, b); b.seek(0);"
        "r = torch.load(b, map_location='cpu', weights_only=True);"
        "print('BROADCAST', type(r['cfg']).__name__, r['cfg'].task._name)"
    ) % (str(REPO), mid[0], mid[0])
    _, out = run(["python3", "-c", code])
    assert "OK 2 " in out
    tokens, seconds = out.split("OK 2 ")[1].split()[2:4]
    assert int(tokens) > 0 and float(seconds) > 0
    assert "BROADCAST DictConfig autoassist_translation" in out


def test_fairseqs_default_data_loader_gives_the_same_plans_and_losses(m30k, tmp_path):
    """With one chunk per epoch, fairseq's default loader (--num-workers 1 --data-buffer-size 10:
    batches read ahead on other threads and processes) trains the same plans and losses as
    --num-workers 0 --data-buffer-size 0."""
    args = [*AUTOASSIST, "--max-epoch", "3", "--no-epoch-checkpoints"]
    _, default_log = train(m30k, tmp_path / "default", *args)
    _, zero_log = train(m30k, tmp_path / "zero", *args, "--num-workers", "0",
                        "--data-buffer-size", "0")

    def plans_and_losses(directory, log):
        recs = records(directory)
        losses = [(r["epoch"], r["train_loss"], r["train_kept_pairs"], r["train_assistant_auc"])
                  for r in log_records(log, "train")]
        return recs, losses

    assert plans_and_losses(tmp_path / "default", default_log) == plans_and_losses(
        tmp_path / "zero", zero_log)
    assert len(log_records(zero_log, "train")) == 3
