"""Fine-tuning with the plugin from a checkpoint of stock ``--task translation``: the parent's
weights are loaded, the dictionaries are checked against the parent's first."""

import shutil

import pytest
from runs import ARCHS, AUTOASSIST, OPTIM, log_records, run

PARENT_UPDATES = 40


def child_cmd(data, save_dir, *extra):
    """The plugin's fairseq-train as the README writes it (languages inferred, no -s/-t), one
    update at learning rate 0: the weights it validates are the ones it started from."""
    return ["fairseq-train", data, *AUTOASSIST, *ARCHS["transformer"], *OPTIM, "--lr", "0",
            "--max-update", "1", "--save-dir", save_dir, "--no-save", *extra]


@pytest.fixture(scope="module")
def parent(m30k, tmp_path_factory):
    """A parent trained with stock --task translation (no plugin), and its valid loss."""
    save = tmp_path_factory.mktemp("parent")
    run(["fairseq-train", m30k, "--task", "translation", "--criterion",
         "label_smoothed_cross_entropy", *ARCHS["transformer"], *OPTIM,
         "--max-update", str(PARENT_UPDATES), "--save-dir", save, "--no-epoch-checkpoints"])
    # the plugin only lets torch load fairseq's checkpoint (its classes allowed, as for the child)
    _, out = run(["fairseq-validate", m30k, "--user-dir", AUTOASSIST[1], "--task", "translation", "--path",
                  save / "checkpoint_last.pt", "--criterion", "label_smoothed_cross_entropy",
                  "--label-smoothing", "0.1", "--max-tokens", "2000", "--cpu"])
    loss = float(out.rsplit("| loss ", 1)[1].split()[0])
    return save / "checkpoint_last.pt", loss


def valid_loss(out):
    return float(log_records(out, "valid")[-1]["valid_loss"])


def test_finetuning_starts_from_the_parents_weights(m30k, parent, tmp_path):
    checkpoint, parent_loss = parent
    _, out = run(child_cmd(m30k, tmp_path / "child", "--finetune-from-model", checkpoint))
    assert "trained on the same dictionaries" in out
    _, fresh = run(child_cmd(m30k, tmp_path / "fresh"))
    assert valid_loss(out) == pytest.approx(parent_loss, abs=2e-3)
    assert valid_loss(fresh) > parent_loss + 1.0  # a fresh model's loss is far above

    _, restored = run(child_cmd(m30k, tmp_path / "restored", "--restore-file", checkpoint,
                                "--reset-optimizer", "--reset-lr-scheduler", "--reset-meters",
                                "--reset-dataloader"))
    assert valid_loss(restored) == pytest.approx(parent_loss, abs=2e-3)


def edited_copy(m30k, tmp_path, edit):
    """A copy of the data directory whose two dictionaries went through *edit* (lines -> lines)."""
    copy = tmp_path / "data"
    shutil.copytree(m30k, copy)
    for lang in ("de", "en"):
        path = copy / f"dict.{lang}.txt"
        path.write_text("".join(edit(path.read_text().splitlines(keepends=True))))
    return copy


def test_a_parent_on_other_dictionaries_stops_with_a_clear_error(m30k, parent, tmp_path):
    checkpoint, _ = parent
    swapped = edited_copy(m30k, tmp_path / "swapped",
                          lambda lines: [*lines[:10], lines[11], lines[10], *lines[12:]])
    code, out = run(child_cmd(swapped, tmp_path / "a", "--finetune-from-model", checkpoint),
                    check=False)
    assert code == 1 and "autoassist_translation: error:" in out and "differs from" in out
    assert "--vocab-from" in out and "Traceback" not in out

    longer = edited_copy(m30k, tmp_path / "longer", lambda lines: [*lines, "zzzextra 1\n"])
    code, out = run(child_cmd(longer, tmp_path / "b", "--finetune-from-model", checkpoint),
                    check=False)
    assert code == 1 and "entries" in out and "Traceback" not in out
