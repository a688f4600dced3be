"""`agent finetune`: train a model on edit-sequence data (TRL SFTTrainer; logic in agent.training.finetune).

    agent finetune train.jsonl --model smollm2 --out models/ft1
    agent finetune train.jsonl stdlib.jsonl --model smollm2 --out models/ft2 --lora --max-steps 2000
    agent finetune train.jsonl --model smollm2 --out models/ft1 --resume --max-steps 4000
    agent solve P.json --model models/ft1      # the edit_sequence format is detected

Exit status: 0 trained and saved, 2 bad input (data, model, output folder, flags), 130 interrupted
(the checkpoints written so far stay; --resume continues from the last).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent.cli import UsageError

HELP = "finetune a model on edit-sequence data (TRL SFTTrainer)"
DESCRIPTION = """\
Finetune a causal LM on edit-sequence data (JSONL lines with "instruction" and "edits", from
`agent export` or `agent lintseq`). Each example is the instruction, then its diffs, each after
the <|diff|> token, then eos; the loss covers the diffs only. <|diff|> is added to the tokenizer
when missing (embeddings resized). Full finetuning by default; --lora trains LoRA adapters and
the <|diff|> embedding, merged into the saved weights.

examples:
  agent finetune train.jsonl --model smollm2 --out models/ft1
  agent finetune train.jsonl stdlib.jsonl --model smollm2 --out models/ft2 --lora --max-steps 2000
  agent finetune train.jsonl --model smollm2 --out models/ft1 --resume --max-steps 4000
  agent solve P.json --model models/ft1

output (DIR = --out; the model is saved into DIR itself, so `--model DIR` loads it):
  DIR/config.json + weights + tokenizer   the final model (config.json is written last)
  DIR/training_problems.json              problems the data came from (agent bench skips them)
  DIR/finetune.json  DIR/training_log.jsonl  DIR/loss.png  DIR/checkpoints/checkpoint-N

device: CUDA when present (bf16 mixed precision where supported), else CPU in float32; set
OMP_NUM_THREADS to bound CPU threads.

exit status: 0 trained, 2 bad input, 130 interrupted (checkpoints stay; --resume continues)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", nargs="+", metavar="DATA.jsonl", help="edit-sequence data files")
    parser.add_argument("--model", default="smollm2", help="smollm2 (the default here: small enough to train on a CPU), "
                        "qwen-coder-0.5b, a save_pretrained folder, a .gguf file or a hub id")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (new, or one to --resume)")
    parser.add_argument("--epochs", type=float, default=3.0, help="passes over the data (default 3)")
    parser.add_argument("--max-steps", type=int, metavar="N", help="optimizer steps; overrides --epochs")
    parser.add_argument("--lr", type=float, help="peak learning rate (default 5e-5, with --lora 2e-4; linear decay)")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="examples per device step (default 8)")
    parser.add_argument("--grad-accum", type=int, default=1, metavar="N", help="steps accumulated per update (default 1)")
    parser.add_argument("--max-length", type=int, default=1024, metavar="TOKENS", help="longer examples are cut (default 1024)")
    parser.add_argument("--lora", action="store_true", help="train LoRA adapters (merged on save) instead of all weights")
    parser.add_argument("--lora-r", type=int, default=16, metavar="R", help="LoRA rank (default 16; alpha = 2R)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint in DIR/checkpoints")
    parser.add_argument("--save-steps", type=int, default=200, metavar="N", help="checkpoint (and eval) every N steps (default 200)")
    parser.add_argument("--logging-steps", type=int, default=10, metavar="N", help="log the loss every N steps (default 10)")
    parser.add_argument("--seed", type=int, default=0, help="seed for data order and initialisation (default 0)")
    parser.add_argument("--eval-fraction", type=float, default=0.0, metavar="F", help="hold out this share of examples for an eval loss")


def settings_from(args: argparse.Namespace):
    from agent.training.finetune import FinetuneSettings

    positive = {"--batch-size": args.batch_size, "--grad-accum": args.grad_accum, "--max-length": args.max_length,
                "--lora-r": args.lora_r, "--save-steps": args.save_steps, "--logging-steps": args.logging_steps}
    if args.max_steps is not None:
        positive["--max-steps"] = args.max_steps
    for flag, value in positive.items():
        if value < 1:
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    if not args.epochs > 0:
        raise UsageError(f"--epochs must be positive, got {args.epochs}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if not 0 <= args.eval_fraction < 1:
        raise UsageError(f"--eval-fraction must be in [0, 1), got {args.eval_fraction}")
    data = tuple(Path(p) for p in args.data)
    missing = [str(p) for p in data if not p.is_file()]
    if missing:
        raise UsageError(f"no such data file: {', '.join(missing)}; write one with agent export or agent lintseq")
    return FinetuneSettings(
        data=data, model=args.model, out=Path(args.out), epochs=args.epochs, max_steps=args.max_steps, lr=args.lr,
        batch_size=args.batch_size, grad_accum=args.grad_accum, max_length=args.max_length, lora=args.lora,
        lora_r=args.lora_r, resume=args.resume, save_steps=args.save_steps, logging_steps=args.logging_steps,
        seed=args.seed, eval_fraction=args.eval_fraction,
    )


def run(args: argparse.Namespace) -> int:
    from agent.training.finetune import FinetuneError, finetune

    settings = settings_from(args)
    try:
        summary = finetune(settings)
    except FinetuneError as exc:
        raise UsageError(str(exc)) from None
    losses = ("no loss logged" if summary.first_loss is None
              else f"loss {summary.first_loss:.3f} -> {summary.final_loss:.3f}")
    speed = "" if summary.seconds_per_step is None else f", {summary.seconds_per_step:.2f} s/step"
    print(f"finetuned {settings.model} on {summary.train_examples} examples: {summary.global_step} steps, "
          f"{losses}{speed}; model in {summary.out} (agent solve P.json --model {summary.out})", file=sys.stderr)
    return 0
