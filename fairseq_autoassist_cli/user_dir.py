"""``fairseq-autoassist-dir``: print the directory of the fairseq_autoassist plugin, for
``fairseq-train --user-dir "$(fairseq-autoassist-dir)"``.

fairseq resolves ``--user-dir`` only as a path (relative to the working directory or to fairseq
itself), so the package name alone works only from the repository root. Finding the path does not
import the package (nor torch and fairseq)."""

import argparse
import importlib.util
import os


def package_dir():
    spec = importlib.util.find_spec("fairseq_autoassist")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("fairseq_autoassist is not installed: run scripts/install.sh")
    return os.path.abspath(list(spec.submodule_search_locations)[0])


def main(argv=None):
    argparse.ArgumentParser(prog="fairseq-autoassist-dir",
                            description=__doc__.split("\n\n")[0]).parse_args(argv)
    print(package_dir())


if __name__ == "__main__":
    main()
