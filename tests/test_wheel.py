"""The package as a user gets it without ``-e``: the wheel built from the repository, installed
into an empty directory and run from outside the checkout, with nothing of the repository
importable: every console command it declares, ``fairseq-autoassist-dir``, and a two-update
fairseq-train with the installed plugin."""

import configparser
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from runs import ARCHS, OPTIM, REPO, log_records

PLUGIN = ("fairseq_autoassist", "fairseq_autoassist_cli")  # the packages the wheel must hold


def _run(cmd, cwd, env=None, timeout=300):
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, site, python, env, outside): the wheel built from a copy of the checkout's files
    (building in the checkout would leave build/ and *.egg-info in it), installed with ``pip install
    --target site`` by *python*, a virtual environment's interpreter that sees this environment's
    packages (torch, fairseq) as plain directories: their .pth files, among them the editable
    install of the checkout, are not run. *env*: only *site* on PYTHONPATH; *outside*: an empty
    directory to run in."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    rc, listed = _run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], REPO)
    assert rc == 0, listed
    for name in listed.splitlines():
        if not name.startswith("docs/") and (REPO / name).is_file():  # docs: 36 MB, not packed
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    dist, site, venv, outside = root / "dist", root / "site", root / "venv", root / "outside"
    outside.mkdir()
    rc, out = _run([sys.executable, "-m", "venv", "--without-pip", venv], root)
    assert rc == 0, out
    python = venv / "bin" / "python"
    rc, purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                       root)
    packages = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages")]
    (Path(purelib.strip()) / "environment.pth").write_text("\n".join(packages) + "\n")
    for cmd in ([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                 "--no-index", "-w", dist, source],
                [python, "-m", "pip", "install", "--no-deps", "--no-index", "--target", site]):
        if "install" in cmd:
            cmd.append(next(dist.glob("*.whl")))
        rc, out = _run(cmd, root)
        assert rc == 0, out[-3000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=str(site), PYTHONUNBUFFERED="1")
    return next(dist.glob("*.whl")), site, python, env, outside


def console_scripts(wheel):
    """{command: module:function} of the wheel's entry points."""
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/entry_points.txt"))
        parser = configparser.ConfigParser()
        parser.read_string(z.read(name).decode())
    return dict(parser["console_scripts"])


def test_the_wheel_installed_runs_every_command_from_outside_the_repository(installed, m30k):
    """The wheel holds every module of fairseq_autoassist and fairseq_autoassist_cli (the data
    report's subpackage included) and no other package (data_prep is a tool of the repository).
    From an empty directory with only the installed copy on the path: nothing of the checkout is
    importable, the plugin's modules are the installed ones, each console command's --help works,
    fairseq-autoassist-dir names the installed plugin, and fairseq-train trains two updates with
    it. (One test, so that pytest-xdist builds the wheel once.)"""
    wheel, site, python, env, outside = installed
    with zipfile.ZipFile(wheel) as z:
        packed = {n for n in z.namelist() if n.endswith(".py")}
    modules = {str(p.relative_to(REPO)) for package in PLUGIN
               for p in (REPO / package).rglob("*.py") if "__pycache__" not in p.parts}
    assert modules - packed == set()
    assert "fairseq_autoassist_cli/report/cli.py" in packed
    assert not [n for n in packed if n.split("/")[0] not in PLUGIN]
    assert set(console_scripts(wheel)) == {"fairseq-autoassist-dir", "fairseq-autoassist-flags",
                                           "fairseq-autoassist-report",
                                           "fairseq-autoassist-torchrun"}
    rc, out = _run([python, "-c", "import importlib.util as u, fairseq_autoassist as a, "
                    "fairseq_autoassist_cli.report.cli as c; "
                    "print('FOUND', u.find_spec('data_prep'), a.__file__, c.__file__)"],
                   outside, env)
    assert rc == 0, out[-3000:]
    found = next(line for line in out.splitlines() if line.startswith("FOUND"))
    unfound, *files = found.split()[1:]
    assert unfound == "None", out  # nothing of the checkout is importable
    assert all(Path(f).resolve().is_relative_to(site.resolve()) for f in files), out
    for command in console_scripts(wheel):
        rc, out = _run([site / "bin" / command, "--help"], outside, env)
        assert rc == 0 and command in out, out[-3000:]
    rc, user_dir = _run([site / "bin" / "fairseq-autoassist-dir"], outside, env)
    assert rc == 0 and Path(user_dir.strip()).resolve() == (site / "fairseq_autoassist").resolve()
    train = shutil.which("fairseq-train")
    rc, out = _run([python, train, m30k, *ARCHS["transformer"], *OPTIM,
                    "--user-dir", user_dir.strip(), "--task", "autoassist_translation",
                    "--criterion", "autoassist_label_smoothed_cross_entropy",
                    "--max-update", "2", "--save-dir", outside / "ck", "--no-epoch-checkpoints"],
                   outside, env)
    assert rc == 0, out[-3000:]
    epoch = log_records(out, "train")
    assert epoch[-1]["train_num_updates"] == "2" and "train_keep_rate" in epoch[-1], out[-3000:]
    assert (outside / "ck" / "checkpoint_last.pt").is_file()
