"""fairseq-autoassist-flags: every flag the plugin adds to fairseq-train, with its default and its
help text, read from the task's and the scheduler's config classes (the one source of each flag's
text). Stock ``fairseq-train --task autoassist_translation --help`` cannot list them: fairseq
parses ``--help`` before it adds a task's flags. ``--markdown`` writes the table of docs/flags.md.
"""

import argparse
import dataclasses
import enum
import sys
import textwrap

HEADER = """# Flags

Every flag the plugin adds to `fairseq-train`, with its default and meaning. Generated from the
config classes' help strings by `fairseq-autoassist-flags --markdown > docs/flags.md` (a test
checks it is current); every other fairseq flag works as in stock fairseq.
"""


def groups():
    """[(title, [(flag, default, choices, help)])]: the task's flags (``--task
    autoassist_translation``; those of the skip-noise and swiftlearn rules apart) and those of
    ``--lr-scheduler autoassist_cosine``."""
    from fairseq_autoassist.noise_rule import NoiseRuleConfig
    from fairseq_autoassist.schedule import AutoAssistCosineConfig
    from fairseq_autoassist.swiftlearn import SwiftLearnConfig
    from fairseq_autoassist.task import AutoAssistTranslationConfig

    apart = {f.name for config in (NoiseRuleConfig, SwiftLearnConfig)
             for f in dataclasses.fields(config)}

    def rows(config, keep):
        out = []
        for f in dataclasses.fields(config):
            if not keep(f.name) or "help" not in f.metadata:
                continue
            choices = None
            if isinstance(f.type, type) and issubclass(f.type, enum.Enum):
                choices = [c.value for c in f.type]
            out.append(("--" + f.name.replace("_", "-"), f.default, choices, f.metadata["help"]))
        return out

    return [("`--task autoassist_translation`",
             rows(AutoAssistTranslationConfig,
                  lambda n: n.startswith("assistant_") and n not in apart)),
            ("`--assistant-rule skip-noise`", rows(NoiseRuleConfig, lambda n: True)),
            ("`--assistant-rule swiftlearn`", rows(SwiftLearnConfig, lambda n: True)),
            ("`--lr-scheduler autoassist_cosine` (needs `--max-epoch` and "
             "`--task autoassist_translation`)",
             rows(AutoAssistCosineConfig, lambda n: True))]


def shown_default(default):
    if default is None:
        return "–"
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(getattr(default, "value", default))


def markdown():
    out = [HEADER]
    for title, rows in groups():
        out += [f"\n## {title}\n", "| flag | default | meaning |", "|---|---|---|"]
        for flag, default, choices, text in rows:
            name = f"`{flag} {{{','.join(choices)}}}`" if choices else f"`{flag}`"
            out.append(f"| {name} | {shown_default(default)} | {text.replace('|', '/')} |")
    return "\n".join(out) + "\n"


def plain():
    out = []
    for title, rows in groups():
        out.append(title.replace("`", "") + ":")
        for flag, default, choices, text in rows:
            name = f"{flag} {{{','.join(choices)}}}" if choices else flag
            out.append(f"  {name}  (default: {shown_default(default)})")
            out += textwrap.wrap(text, 96, initial_indent=" " * 6, subsequent_indent=" " * 6)
        out.append("")
    return "\n".join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="fairseq-autoassist-flags",
        description="Print every flag the plugin adds to fairseq-train (stock fairseq-train "
                    "--help does not list a task's flags).")
    parser.add_argument("--markdown", action="store_true",
                        help="print the table of docs/flags.md instead of plain text")
    args = parser.parse_args(argv)
    sys.stdout.write(markdown() if args.markdown else plain())
    return 0


if __name__ == "__main__":
    sys.exit(main())
