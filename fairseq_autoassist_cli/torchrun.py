"""``fairseq-autoassist-torchrun``: fairseq-train on several processes (GPUs, or CPU cores) and
machines through torchrun, in one command::

    fairseq-autoassist-torchrun [torchrun options] -- DATA [fairseq-train options]

for example ``fairseq-autoassist-torchrun --nproc_per_node 8 -- data-bin/wmt14_en_de --task
autoassist_translation ...``. Everything before ``--`` goes to torchrun (``--nproc_per_node``,
``--nnodes``, ``--node_rank``, ``--master_addr``, ``--master_port``, ``--rdzv_*``), everything
after it to fairseq-train, plus what fairseq needs to join torchrun's process group:
``--distributed-init-method env:// --distributed-rank $RANK --distributed-world-size $WORLD_SIZE
--distributed-no-spawn``, and per device:

- GPU: ``--device-id $LOCAL_RANK`` (backend nccl, fairseq's default);
- CPU (``--cpu``, or no GPU): ``--cpu --device-id 0 --distributed-backend gloo --ddp-backend
  legacy_ddp`` (fairseq's own torchrun inference divides by the GPU count, and ``pytorch_ddp``
  rejects CPU modules).

``--user-dir`` is added when not given. If a process dies, torchrun stops the others and exits
with an error.
"""

import os
import sys

USAGE = "usage: fairseq-autoassist-torchrun [torchrun options] -- DATA [fairseq-train options]\n"


def main(argv=None):
    """The console command: run torchrun with this module as each process's program."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        sys.stderr.write(USAGE + "error: put fairseq-train's arguments after '--'\n")
        return 2
    cut = argv.index("--")
    cmd = [sys.executable, "-m", "torch.distributed.run", *argv[:cut],
           "-m", "fairseq_autoassist_cli.torchrun", *argv[cut + 1:]]
    os.execv(sys.executable, cmd)


def train_args(args, env, cuda_available):
    """fairseq-train's arguments for the process torchrun describes in *env*."""
    missing = [k for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK") if k not in env]
    if missing:
        raise SystemExit(f"fairseq-autoassist-torchrun: {', '.join(missing)} not set: start it with "
                         "fairseq-autoassist-torchrun (or torchrun)")
    out = list(args)
    out += ["--distributed-init-method", "env://", "--distributed-rank", env["RANK"],
            "--distributed-world-size", env["WORLD_SIZE"], "--distributed-no-spawn"]
    if "--cpu" in args or not cuda_available:
        ddp = _value(args, "--ddp-backend")
        if ddp not in (None, "legacy_ddp", "no_c10d"):
            raise SystemExit(f"--ddp-backend {ddp} does not train on CPU: use legacy_ddp (the "
                             "default here)")
        out += ["--cpu", "--device-id", "0"]
        if _value(args, "--distributed-backend") is None:
            out += ["--distributed-backend", "gloo"]
        if ddp is None:
            out += ["--ddp-backend", "legacy_ddp"]
    else:
        out += ["--device-id", env["LOCAL_RANK"]]
    if _value(args, "--user-dir") is None:
        from .user_dir import package_dir

        out += ["--user-dir", package_dir()]
    return out


def _value(args, flag):
    """The value given to *flag* in *args* (``--flag v`` or ``--flag=v``), the last one wins."""
    value = None
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            value = args[i + 1]
        elif a.startswith(flag + "="):
            value = a.split("=", 1)[1]
    return value


def worker():
    """One process under torchrun: fairseq-train with the distributed flags."""
    import torch
    from fairseq_cli.train import cli_main

    sys.argv = ["fairseq-train", *train_args(sys.argv[1:], os.environ, torch.cuda.is_available())]
    cli_main()


if __name__ == "__main__":
    worker()
