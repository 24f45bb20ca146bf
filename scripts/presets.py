"""fairseq-train model and optimizer flags per preset, shared by the experiment command (curve, offline, bench) and the GPU check.

    python3 scripts/presets.py transformer-cpu    # prints the flags, one per line
"""


# fairseq-train flags per --arch. The CPU presets are small enough to approach convergence on
# Multi30k within minutes on 2 cores; the paper-like presets are fairseq's architectures with
# their usual optimizer settings, for a GPU with --fp16/--bf16. Learning-rate schedules are
# update-based or constant: an epoch-based schedule (--force-anneal, reduce_lr_on_plateau) would
# anneal AutoAssist, whose epochs are shorter, earlier in updates than the baseline.
ADAM = ["--optimizer", "adam", "--adam-betas", "(0.9, 0.98)"]
PRESETS = {
    "tiny": dict(
        help="for tests: Transformer 1+1 layers, 32-d, ffn 64, 2 heads",
        args=["--arch", "transformer", "--encoder-layers", "1", "--decoder-layers", "1",
              "--encoder-embed-dim", "32", "--decoder-embed-dim", "32",
              "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64",
              "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
              "--share-all-embeddings", "--dropout", "0.1", *ADAM, "--lr", "3e-3",
              "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "20", "--max-tokens", "2000"]),
    "transformer-cpu": dict(
        help="Transformer 2+2 layers, 256-d, ffn 512, 4 heads, dropout 0.2, adam 1e-3, "
             "inverse_sqrt warm-up 400, 4096 tokens",
        args=["--arch", "transformer", "--encoder-layers", "2", "--decoder-layers", "2",
              "--encoder-embed-dim", "256", "--decoder-embed-dim", "256",
              "--encoder-ffn-embed-dim", "512", "--decoder-ffn-embed-dim", "512",
              "--encoder-attention-heads", "4", "--decoder-attention-heads", "4",
              "--share-all-embeddings", "--dropout", "0.2", *ADAM, "--lr", "1e-3",
              "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "400", "--max-tokens", "4096"]),
    "transformer-128": dict(
        help="Transformer 2+2 layers, 128-d, ffn 512, 4 heads, dropout 0.1, adam 2e-3, "
             "warm-up 50 updates then cosine to 0 over --max-epoch (autoassist_cosine), 1024 "
             "tokens (about 190 updates per epoch of a 10k-pair corpus, ~31 s on 2 CPU cores)",
        args=["--arch", "transformer", "--encoder-layers", "2", "--decoder-layers", "2",
              "--encoder-embed-dim", "128", "--decoder-embed-dim", "128",
              "--encoder-ffn-embed-dim", "512", "--decoder-ffn-embed-dim", "512",
              "--encoder-attention-heads", "4", "--decoder-attention-heads", "4",
              "--share-all-embeddings", "--dropout", "0.1", *ADAM, "--lr", "2e-3",
              "--lr-scheduler", "autoassist_cosine", "--warmup-updates", "50",
              "--max-tokens", "1024"]),
    "lstm-128": dict(
        help="LSTM: 1-layer bidirectional encoder, 1-layer attentional decoder, 128-d, dropout "
             "0.1, adam 2e-3, warm-up 50 updates then cosine to 0 over --max-epoch "
             "(autoassist_cosine), clip 1.0, 1024 tokens",
        args=["--arch", "lstm", "--encoder-layers", "1", "--encoder-bidirectional",
              "--encoder-embed-dim", "128", "--encoder-hidden-size", "128",
              "--decoder-layers", "1", "--decoder-embed-dim", "128",
              "--decoder-hidden-size", "128", "--decoder-out-embed-dim", "128",
              "--share-decoder-input-output-embed", "--dropout", "0.1", *ADAM, "--lr", "2e-3",
              "--lr-scheduler", "autoassist_cosine", "--warmup-updates", "50",
              "--clip-norm", "1.0", "--max-tokens", "1024"]),
    "lstm-cpu": dict(
        help="LSTM: 1-layer bidirectional encoder, 1-layer attentional decoder, 256-d, dropout "
             "0.2, adam 1e-3, inverse_sqrt warm-up 400, clip 1.0, 4096 tokens",
        args=["--arch", "lstm", "--encoder-layers", "1", "--encoder-bidirectional",
              "--encoder-embed-dim", "256", "--encoder-hidden-size", "256",
              "--decoder-layers", "1", "--decoder-embed-dim", "256",
              "--decoder-hidden-size", "256", "--decoder-out-embed-dim", "256",
              "--share-decoder-input-output-embed", "--dropout", "0.2", *ADAM, "--lr", "1e-3",
              "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "400", "--clip-norm", "1.0",
              "--max-tokens", "4096"]),
    "fconv-cpu": dict(
        help="ConvS2S: 3 encoder / 2 decoder conv layers of 256 channels, kernel 3, 256-d, "
             "dropout 0.2, nag 0.25, clip 0.1, 4096 tokens (fconv_iwslt_de_en's recipe, "
             "one layer fewer on each side)",
        args=["--arch", "fconv", "--encoder-embed-dim", "256", "--decoder-embed-dim", "256",
              "--decoder-out-embed-dim", "256", "--encoder-layers", "[(256, 3)] * 3",
              "--decoder-layers", "[(256, 3)] * 2", "--dropout", "0.2", "--optimizer", "nag",
              "--lr", "0.25", "--clip-norm", "0.1", "--lr-scheduler", "fixed",
              "--max-tokens", "4096"]),
    "transformer-iwslt": dict(
        help="transformer_iwslt_de_en, adam 5e-4, inverse_sqrt warm-up 4000, dropout 0.3, "
             "weight decay 1e-4, 4096 tokens (fairseq's IWSLT'14 recipe)",
        args=["--arch", "transformer_iwslt_de_en", "--share-decoder-input-output-embed", *ADAM,
              "--clip-norm", "0.0", "--lr", "5e-4", "--lr-scheduler", "inverse_sqrt",
              "--warmup-updates", "4000", "--dropout", "0.3", "--weight-decay", "0.0001",
              "--max-tokens", "4096"]),
    "transformer-wmt": dict(
        help="transformer_wmt_en_de (base), shared embeddings, adam 7e-4, inverse_sqrt warm-up "
             "4000 from 1e-7, dropout 0.1, 8192 tokens",
        args=["--arch", "transformer_wmt_en_de", "--share-all-embeddings", *ADAM,
              "--clip-norm", "0.0", "--lr", "7e-4", "--lr-scheduler", "inverse_sqrt",
              "--warmup-updates", "4000", "--warmup-init-lr", "1e-07", "--dropout", "0.1",
              "--weight-decay", "0.0", "--max-tokens", "8192"]),
    "fconv-iwslt": dict(
        help="fconv_iwslt_de_en, nag 0.25, clip 0.1, dropout 0.2, 4000 tokens "
             "(fairseq's IWSLT'14 recipe)",
        args=["--arch", "fconv_iwslt_de_en", "--optimizer", "nag", "--lr", "0.25",
              "--clip-norm", "0.1", "--dropout", "0.2", "--lr-scheduler", "fixed",
              "--max-tokens", "4000"]),
    "fconv-wmt": dict(
        help="fconv_wmt_en_de, nag 0.5, clip 0.1, dropout 0.2, 4000 tokens (fairseq's WMT'14 "
             "recipe without its epoch-based --force-anneal)",
        args=["--arch", "fconv_wmt_en_de", "--optimizer", "nag", "--lr", "0.5",
              "--clip-norm", "0.1", "--dropout", "0.2", "--lr-scheduler", "fixed",
              "--max-tokens", "4000"]),
    "lstm-iwslt": dict(
        help="lstm_wiseman_iwslt_de_en, adam 1e-3 constant, clip 1.0, 4096 tokens",
        args=["--arch", "lstm_wiseman_iwslt_de_en", *ADAM, "--lr", "1e-3",
              "--lr-scheduler", "fixed", "--clip-norm", "1.0", "--max-tokens", "4096"]),
    "lstm-wmt": dict(
        help="lstm_luong_wmt_en_de, sgd 1.0 constant, clip 5.0, 4096 tokens (Luong et al. "
             "without their epoch-based halving)",
        args=["--arch", "lstm_luong_wmt_en_de", "--optimizer", "sgd", "--lr", "1.0",
              "--lr-scheduler", "fixed", "--clip-norm", "5.0", "--max-tokens", "4096"]),
}


def main(argv):
    """Print a preset's fairseq-train flags, one per line (for shell scripts)."""
    if len(argv) != 1 or argv[0] not in PRESETS:
        raise SystemExit(f"usage: python -m scripts.experiment presets {{{','.join(PRESETS)}}}")
    print("\n".join(PRESETS[argv[0]]["args"]))
