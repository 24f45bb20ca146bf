"""The documentation: every relative link resolves; every command of README.md runs here (on the
test corpus, shortened) or is marked as needing a GPU or a download; the flag reference and the
README's results table are the ones their sources give; the README stays short."""

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from runs import REPO, run

MARKS = ("downloads", "needs a GPU")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def markdown_files():
    return [REPO / "README.md", REPO / "data_prep" / "README.md",
            *sorted((REPO / "docs").rglob("*.md"))]


def test_every_relative_link_resolves():
    broken = []
    for page in markdown_files():
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor on the page
            path = target.split("#", 1)[0]
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
    assert not broken, "links that resolve to nothing:\n" + "\n".join(broken)


def readme_commands():
    """[(command, comment)] of README.md's fenced bash blocks (continuation lines joined)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command, _, comment = line.partition("  #")
            if command.strip():
                out.append((" ".join(command.split()), comment.strip()))
    return out


def test_readme_is_short_and_its_commands_are_known():
    assert len((REPO / "README.md").read_text(encoding="utf-8").splitlines()) <= 150
    commands = readme_commands()
    assert len(commands) >= 4
    for command, comment in commands:
        if comment:
            assert comment.startswith(MARKS), (command, comment)
        else:
            assert command.split()[0] in RUNNERS, (
                f"README command {command!r} runs in no test: add it to tests/test_docs.py's "
                f"RUNNERS, or mark it '# downloads' or '# needs a GPU'")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    tests = [c for c, _ in commands if "pytest" in c][0].split("&& ", 1)[1]
    assert tests in ci, "the README's test command is not the one CI runs"


def shortened(command, m30k, tmp_path):
    """*command* on the test corpus, its outputs in *tmp_path*, and shortened: two updates, tiny
    generations."""
    argv = [a.replace("data-bin/multi30k_de_en", str(m30k)).replace("checkpoints/", f"{tmp_path}/")
            for a in shlex.split(command.replace('"$(fairseq-autoassist-dir)"', "fairseq_autoassist"))]
    if argv[0] == "fairseq-train":
        argv += ["--max-update", "2", "--cpu", "--encoder-layers", "1", "--decoder-layers", "1",
                 "--encoder-embed-dim", "32", "--decoder-embed-dim", "32",
                 "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64"]
    if argv[0] == "fairseq-generate":
        argv += ["--cpu", "--max-len-a", "0", "--max-len-b", "3", "--beam", "2"]
    return argv


RUNNERS = {"fairseq-train", "fairseq-generate", "fairseq-autoassist-flags"}


def test_readme_commands_run(m30k, tmp_path):
    """The README's commands without a mark, in order (fairseq-generate reads the checkpoint
    fairseq-train wrote), on the test corpus, shortened."""
    ran = []
    for command, comment in readme_commands():
        if comment:
            continue
        result = subprocess.run(shortened(command, m30k, tmp_path), cwd=REPO, text=True,
                                capture_output=True, timeout=600)
        assert result.returncode == 0, (command, (result.stdout + result.stderr)[-3000:])
        ran.append(command.split()[0])
    assert ran == ["fairseq-train", "fairseq-generate", "fairseq-autoassist-flags"]


def test_the_flag_reference_is_generated_from_the_config():
    from fairseq_autoassist.task import AutoAssistTranslationConfig
    from fairseq_autoassist_cli import flags

    page = (REPO / "docs" / "flags.md").read_text(encoding="utf-8")
    assert page == flags.markdown(), ("docs/flags.md is not current: run "
                                      "fairseq-autoassist-flags --markdown > docs/flags.md")
    for name in AutoAssistTranslationConfig.__dataclass_fields__:
        if name.startswith("assistant_"):
            assert f"`--{name.replace('_', '-')}" in page, name
    _, out = run(["fairseq-autoassist-flags"])
    assert "--assistant-rule {paper,infobatch,skip-hard,skip-noise,swiftlearn}" in out
    assert "--assistant-rule swiftlearn:\n  --assistant-swiftlearn-keep" in out


def test_the_readme_results_table_is_drawn_from_the_committed_records():
    result = subprocess.run([sys.executable, "-m", "scripts.experiment", "readme", "--check"], cwd=REPO,
                            text=True, capture_output=True)
    assert result.returncode == 0, result.stderr
    assert (REPO / "docs" / "results.png").is_file()


@pytest.mark.parametrize("page", ["usage.md", "flags.md", "README.md", "noise.md",
                                  "data-report.md", "performance.md", "design.md"])
def test_each_reference_page_starts_with_a_summary(page):
    lines = (REPO / "docs" / page).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# ") and lines[1] == "" and lines[2] and lines[3], page
