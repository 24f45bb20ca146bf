"""Write the report: ``report.md`` for people, ``report.json`` and ``pairs.csv`` for scripts, PNG
plots, and the raw text without the pairs a user flags."""

import json
import os
import shutil

import numpy as np

# (column, key of the per-pair arrays, format)
CSV_COLUMNS = (("id", "id", "%d"), ("src_len", "src_len", "%d"), ("tgt_len", "tgt_len", "%d"),
               ("assistant_score", "hard_prob", "%.5f"), ("boss_loss", "loss", "%.5f"),
               ("other_source_loss", "other_loss", "%.5f"),
               ("similar_source_loss", "similar_loss", "%.5f"), ("copy", "copy", "%.4f"),
               ("src_language", "src_language", "%.3f"), ("tgt_language", "tgt_language", "%.3f"),
               ("length_ratio", "length_ratio", "%.3f"), ("duplicates", "duplicates", "%.3f"),
               ("contrast", "contrast", "%.3f"), ("contrast_similar", "contrast_similar", "%.3f"),
               ("trust", "trust", "%.3f"), ("noise_score", "noise_score", "%.4f"),
               ("heuristic_flags", "heuristic_flags", "%d"), ("keep_prob", "keep_prob", "%.4f"),
               ("epochs_seen", "epochs_seen", "%.0f"), ("loss_mean", "loss_mean", "%.4f"),
               ("loss_spread", "loss_spread", "%.4f"), ("loss_drop", "loss_drop", "%.4f"),
               ("relative_loss", "relative_loss", "%.4f"))


def pairs_csv(path, p):
    """One row per pair (lengths in tokens with the end-of-sentence; losses in nats per target
    token; signals as in :mod:`fairseq_autoassist.noise` and :mod:`.noise_signals`; empty where
    unknown)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(",".join(c[0] for c in CSV_COLUMNS) + "\n")
        lines = None
        for _, key, fm in CSV_COLUMNS:
            c = np.asarray(p[key])
            text = np.char.mod(fm, c)
            if fm != "%d":
                text = np.where(np.isfinite(c), text, "")
            lines = text if lines is None else np.char.add(np.char.add(lines, ","), text)
        f.write("\n".join(lines.tolist()))
        f.write("\n")


def filtered_text(directory, data, lang_pair, dataset, dictionaries, drop, post_process):
    """``DIRECTORY/train.SRC`` and ``train.TGT`` without the pairs *drop* (bool per pair), as text
    (detokenized with *post_process*), and the data directory's raw valid and test text as
    ``valid.*``, ``test.*``: the raw directory ``data_prep.prepare`` reads. Returns the pairs kept."""
    os.makedirs(directory, exist_ok=True)
    keep = np.flatnonzero(~drop)
    for side, lang in enumerate(lang_pair):
        tokens = (dataset.src, dataset.tgt)[side]
        with open(os.path.join(directory, f"train.{lang}"), "w", encoding="utf-8") as f:
            for i in keep:
                f.write(dictionaries[side].string(tokens[int(i)], post_process) + "\n")
        for split in ("valid", "test"):
            raw = os.path.join(data, f"{split}.raw.{lang}")
            if os.path.isfile(raw):
                shutil.copyfile(raw, os.path.join(directory, f"{split}.{lang}"))
    return len(keep)


def report_json(path, report):
    """*report* as JSON, unknown numbers (NaN) as null."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_finite(report), f, indent=1, allow_nan=False)
        f.write("\n")


def _finite(value):
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def plots(directory, p, by_length, epochs):
    """score_loss.png (distributions of the Assistant's score and of the Boss's loss),
    length.png (keep probability and score by target length), epochs.png (keep rate and AUC)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    fig, ax = plt.subplots(1, 3, figsize=(13, 3.6))
    for a, key, label in ((ax[0], "hard_prob", "Assistant: P(hard)"),
                          (ax[1], "loss", "Boss loss (nats / target token)"),
                          (ax[2], "noise_score", "noise score (robust s.d.)")):
        x = p[key][np.isfinite(p[key])]
        a.hist(x, bins=50, color="#4477aa")
        a.set_xlabel(label)
        a.set_ylabel("pairs")
    fig.tight_layout()
    written.append(_save(fig, plt, directory, "score_loss.png"))

    fig, ax = plt.subplots(figsize=(6, 3.6))
    names = [r["tgt_len"] for r in by_length]
    x = np.arange(len(names))
    ax.bar(x - 0.2, [r["keep_prob"] for r in by_length], 0.4, label="keep probability")
    ax.bar(x + 0.2, [r["assistant_score"] for r in by_length], 0.4, label="Assistant: P(hard)")
    ax.set_xticks(x, names)
    ax.set_xlabel("target length (tokens)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    written.append(_save(fig, plt, directory, "length.png"))

    if epochs:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for key, label in (("keep_rate", "keep rate"), ("assistant_auc", "Assistant AUC"),
                           ("assistant_acc", "Assistant accuracy")):
            rows = [r for r in epochs if key in r]
            if rows:
                ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], "o-", label=label)
        ax.set_xlabel("epoch")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8)
        fig.tight_layout()
        written.append(_save(fig, plt, directory, "epochs.png"))
    return written


def _save(fig, plt, directory, name):
    fig.savefig(os.path.join(directory, name), dpi=110)
    plt.close(fig)
    return name


def markdown(report, texts):
    """``report.md``: *report* (as in report.json) for people; *texts* {id: (source, target)}."""
    r = report
    out = [f"# AutoAssist data report: {r['subset']} of `{r['data']}`", "",
           f"Checkpoint `{r['checkpoint']}` (epoch {r['epoch']}, {r['num_updates']} updates; rule "
           f"`{r['rule']}`). {r['pairs']:,} pairs; the Boss's losses took {r['seconds']['boss']:.1f} s "
           f"on {r['device']}, the rest {r['seconds']['analysis']:.1f} s.", ""]
    if r["epochs"]:
        out += ["## Keep rate and Assistant per epoch", "",
                _table(r["epochs"], ("epoch", "keep_rate", "kept_tokens", "assistant_acc",
                                     "assistant_auc")), ""]
    s = r["selection"]
    out += ["## Is the Assistant more than a length filter?", "",
            f"A pair counts as hard when its Boss loss is above the split's mean ({s['hard_share']:.1%} "
            f"of the pairs). AUC of the Assistant's score for hard: **{s['auc_assistant']:.3f}**; "
            f"of the target length alone: {s['auc_target_length']:.3f}; of the Assistant's score "
            f"within target-length buckets (mean): **{s['auc_assistant_within_length']:.3f}** "
            f"(0.5 = no better than chance among pairs of the same length). Correlation of the "
            f"score with target length: {s['corr_score_target_length']:.2f}.", "",
            _table(r["by_length"], ("tgt_len", "pairs", "assistant_score", "predicted_hard",
                                    "boss_loss", "keep_prob", "auc_within")), "",
            "![score and loss](score_loss.png) ![by length](length.png)", ""]
    out += ["## What the Assistant learned: its strongest features", "",
            "Weight × IDF of a token's share of the sentence in the logit of \"hard\" (tokens "
            f"in at least {r['features_min_sentences']} pairs); `sentences`: how many pairs "
            "contain it.", ""]
    for side, lists in r["features"].items():
        for label, rows in lists.items():
            words = ", ".join(f"`{f['token']}` {f['weight']:+.2f} ({f['sentences']})" for f in rows)
            out += [f"- {side}, most {label}: {words}"]
    out += [""]
    out += _noise_section(r["noise"])
    titles = {"trivial": "Most trivial pairs (lowest Boss loss: learned long ago; duplicates, "
                         "boilerplate)",
              "hardest_learnable": "Hardest learnable pairs (highest Boss loss among pairs whose "
                                   "source clearly helps)",
              "likely_noise": "Likely noise (highest noise score)"}
    for key, title in titles.items():
        out += [f"## {title}", "", "| id | score | loss | noise | source | target |",
                "|---:|---:|---:|---:|---|---|"]
        for row in r["lists"][key]:
            src, tgt = texts[row["id"]]
            out.append(f"| {row['id']} | {row['assistant_score']:.2f} | {row['boss_loss']:.2f} | "
                       f"{row['noise_score']:.1f} | {_cell(src)} | {_cell(tgt)} |")
        out += [""]
    out += ["Columns: `score` the Assistant's P(hard); `loss` the Boss's NLL in nats per target "
            "token; `noise` the noise score (summed surprise of its signals). Every pair, with "
            "every signal, is in `pairs.csv`."]
    return "\n".join(out) + "\n"


def _noise_section(n):
    """What the noise score rests on: the signals that are off, and how far the Boss is trusted."""
    out = ["## Noise signals", "",
           "The noise score adds each signal's evidence by fixed rules (nothing is fitted): the "
           "log-odds of another language over the expected one, where it is likelier; a target "
           "more than half copied from its source; a bag of tokens shared by more than two "
           "pairs; a length ratio beyond 3 robust standard deviations. Below that it ranks the pairs "
           "by the Boss's source contrasts (how little the pair's own source helps it, against "
           "other sources and a similar source, as robust z-scores, times the trust of sources "
           "like the pair's) and by how near the graded data signals come to 3 robust standard "
           "deviations, mixed by how far the Boss is trusted (all contrast from a median gain of "
           "1 nat per token on; all data signals without a gain). The "
           "loss-history columns of `pairs.csv` (training dynamics, with "
           "--assistant-loss-history) are reported beside it."]
    gains = [f"{name} {n[key]:.2f}" for name, key in (("valid", "gain_valid_median"),
                                                       ("training", "gain_train_median"))
             if n.get(key) is not None]
    if gains:
        out += ["", "Median nats per target token by which its own source lowers the Boss's loss "
                f"against other sources: {', '.join(gains)} (trusted from {n['trust_gain']:.1f}); "
                f"pairs whose sources the Boss uses (trust >= 0.5): {n['trusted_share']:.1%}."]
    if n.get("warning"):
        out += ["", f"**Warning**: {n['warning']}."]
    for name, why in n["signals_off"].items():
        out += ["", f"Signal off: {name}: {why}."]
    return out + [""]


def _table(rows, keys):
    lines = ["| " + " | ".join(keys) + " |", "|" + "---:|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if v != v else (f"{v:.3f}" if abs(v) < 100 else f"{v:,.0f}")
    return f"{v:,}" if isinstance(v, int) else str(v)


def _cell(text, limit=160):
    text = text if len(text) <= limit else text[:limit - 1] + "…"
    return text.replace("|", "\\|")
