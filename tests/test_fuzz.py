"""Fuzzing with hypothesis: any value a user can type for the plugin's flags, and any text given to
data_prep, either works or stops with a clear error (the flag or the file named), never an
exception from deep inside."""

import tempfile
from pathlib import Path

import pytest
from fairseq import options, tasks
from fairseq.dataclass.utils import convert_namespace_to_omegaconf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fairseq_autoassist  # noqa: F401  (registers the task)
from data_prep.prepare import PrepareError, prepare
from runs import ARCHS

# The valid values of each flag as the README's flag table documents them (stated here, not read
# from the plugin).
VALID = {
    "--assistant-base-prob": lambda v: 0 <= v <= 1,
    "--assistant-lr": lambda v: v > 0,
    "--assistant-l2": lambda v: v >= 0,
    "--assistant-mean-decay": lambda v: 0 <= v < 1,
    "--assistant-prune-ratio": lambda v: 0 <= v < 1,
    "--assistant-reweight-max": lambda v: v >= 1,
    "--assistant-anneal": lambda v: 0 <= v <= 1,
    "--assistant-hard-fraction": lambda v: 0 < v < 1,
    "--assistant-warmup-epochs": lambda v: v >= 0,
    "--assistant-hard-streak": lambda v: v >= 1,
    "--assistant-plan-chunks": lambda v: v >= 1,
}
INTEGER = {"--assistant-warmup-epochs", "--assistant-hard-streak", "--assistant-plan-chunks"}
NUMBERS = st.one_of(st.floats(), st.sampled_from([0.0, 0.5, 1.0, 1 - 1e-12, 1 + 1e-12, 4.0]))
FLAGS = st.fixed_dictionaries(
    {}, optional={f: st.integers(-3, 5) if f in INTEGER else NUMBERS for f in VALID})


def build_task(data, argv):
    args = options.parse_args_and_arch(options.get_training_parser(), [
        str(data), "--task", "autoassist_translation", "-s", "de", "-t", "en",
        *ARCHS["transformer"], "--cpu", *argv])
    return tasks.setup_task(convert_namespace_to_omegaconf(args).task)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=FLAGS, rule=st.sampled_from(["paper", "infobatch", "skip-hard"]),
       max_epoch=st.sampled_from([0, 4]))
def test_any_flag_values_build_the_task_or_name_every_bad_flag(m30k, flags, rule, max_epoch):
    argv = ["--assistant-rule", rule, "--max-epoch", str(max_epoch)]
    argv += [f"{flag}={value}" for flag, value in flags.items()]  # '=': "-inf" is a value
    bad = [flag for flag, value in flags.items() if not VALID[flag](value)]
    anneal = flags.get("--assistant-anneal")
    conflict = anneal is not None and anneal > 0 and max_epoch == 0  # anneals over --max-epoch
    if not bad and not conflict:
        build_task(m30k, argv)
        return
    with pytest.raises(SystemExit) as stop:
        build_task(m30k, argv)
    message = str(stop.value)
    assert message.startswith("autoassist_translation: error: "), message
    for flag in bad or ["--assistant-anneal"]:
        assert flag in message, (flag, message)
    if not bad:
        assert "--max-epoch" in message


# any Unicode text but LF (the line separator) and lone surrogates (not encodable as UTF-8)
LINES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\n"),
                max_size=30)


@settings(max_examples=12, deadline=None)
@given(train=st.lists(st.tuples(LINES, LINES), min_size=1, max_size=40),
       valid=st.lists(st.tuples(LINES, LINES), min_size=1, max_size=5),
       vocab=st.integers(1, 40), model_type=st.sampled_from(["unigram", "bpe"]),
       joined=st.booleans())
def test_any_text_prepares_or_stops_with_a_clear_error(train, valid, vocab, model_type, joined):
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw"
        raw.mkdir()
        for prefix, pairs in (("train", train), ("valid", valid), ("test", valid)):
            for side, lang in enumerate(("xx", "yy")):
                (raw / f"{prefix}.{lang}").write_bytes(
                    "".join(p[side] + "\n" for p in pairs).encode("utf-8"))
        try:
            manifest = prepare(raw, "xx", "yy", Path(tmp) / "bin", vocab_size=vocab,
                               model_type=model_type, joined=joined)
        except PrepareError as e:
            assert str(e)
            return
        counts = manifest["counts"]
        assert counts["train"]["before"] == len(train)
        assert 1 <= counts["train"]["after"] <= len(train)
        assert counts["valid"]["after"] == counts["test"]["after"] == len(valid)  # never dropped
        for split in ("train", "valid", "test"):
            for lang in ("xx", "yy"):
                assert (Path(tmp) / "bin" / f"{split}.xx-yy.{lang}.bin").is_file()
