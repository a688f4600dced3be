"""Finetune a causal LM on edit-sequence data with TRL's SFTTrainer (the logic of `agent finetune`).

    from agent.training.finetune import FinetuneSettings, finetune
    summary = finetune(FinetuneSettings(data=(Path("train.jsonl"),), model="smollm2", out=Path("ft")))
    # then: agent solve P.json --model ft      (the edit_sequence format is detected from <|diff|>)

Data: JSONL lines `{"instruction": str, "edits": [diff_1, ..., diff_k], "prompt_edits": p, ...}`
(written by `agent export` and `agent lintseq`; the edits go from the empty program to the
finished one; `prompt_edits`, default 0, counts the leading diffs that belong to the prompt: 1
when the first diff is a task's starter). Each line becomes `training_example(instruction, edits,
eos, p)`: the prompt `instruction + "\\n<|diff|>"` (then the starter diff and another
`"\\n<|diff|>"`) and the completion `diff_{p+1} + "\\n<|diff|>" + ... + diff_k + eos`, the very
text `EditSequenceFormat` renders at inference. Both are tokenized here the way inference encodes prompts
(`policies.sampling.encode_prompt`: no chat template, no special tokens but a BOS the tokenizer
asks for), and the loss covers the completion tokens only (TRL's `completion_mask`).

Model: `policies.loading.load_model(spec)` in float32 (bf16 mixed precision on a GPU that has
it). `<|diff|>` is added as a special token when the vocabulary lacks it, the embeddings are
resized, and the new row (input and, if untied, output) starts at the mean of the existing rows,
so the token begins as an average word rather than noise. Full finetuning by default. With LoRA,
adapters go on every linear layer and the `<|diff|>` row is trained too (peft
`trainable_token_indices`; a tied output embedding follows it, an untied one is trained whole);
the adapters are merged before saving, so the output is a plain model either way.

The output folder OUT:

    OUT/config.json, model weights, tokenizer files   the final model: `--model OUT` loads it
    OUT/training_problems.json   problem ids the data came from (agent.training.provenance), for `agent bench`
    OUT/finetune.json            data files, counts, model, hyperparameters, versions, seed, losses
    OUT/training_log.jsonl       one line per logged step: step, epoch, loss, lr (eval_loss)
    OUT/loss.png                 the training (and eval) loss curve
    OUT/checkpoints/checkpoint-N Trainer checkpoints, the last two kept; `resume=True` continues

A half-written model never looks complete: the final model is saved to `OUT/.final.tmp`, its
files are moved into OUT one by one, and `config.json`, the file `load_model` requires, moves
last (a resumed run first removes the old one). Resuming needs the same data, learning rate
and batch settings (checked against finetune.json); `max_steps` or `epochs` may grow, which
stretches the linear decay from there (the Trainer restores the optimizer's last rate for the
first resumed step).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable, Sequence

from agent.training.provenance import MODEL_FILE, data_provenance_path, read_provenance, write_provenance
from agent.output.files import write_text_atomic
from agent.output.versions import versions
from agent.training.losses import make_log_callback, plot_losses, read_log
from policies.formats.edit_sequence import DIFF_TOKEN, training_example

log = logging.getLogger(__name__)

CHECKPOINTS, LOG, PLOT, SUMMARY = "checkpoints", "training_log.jsonl", "loss.png", "finetune.json"
FINAL_TMP = ".final.tmp"
MODEL_MARKER = "config.json"  # `policies.loading` treats a folder holding it as a model: it moves last
KEEP_CHECKPOINTS = 2
DEFAULT_LR = {"full": 5e-5, "lora": 2e-4}
# Settings a resumed run must share with the run it continues (the Trainer replays data order).
# The learning rate too: the restored scheduler keeps its base rate.
RESUME_INVARIANTS = ("data", "model", "learning_rate", "batch_size", "grad_accum", "max_length", "lora", "lora_r",
                     "seed", "eval_fraction")


class FinetuneError(ValueError):
    """Bad data, output folder or settings; the message is one line naming the problem and the fix."""


@dataclass(frozen=True)
class FinetuneSettings:
    data: tuple[Path, ...]
    model: str
    out: Path
    epochs: float = 3.0
    max_steps: int | None = None  # overrides epochs when set
    lr: float | None = None  # None: DEFAULT_LR for full finetuning or LoRA
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024  # tokens; longer examples are cut at the end (their prompt is kept)
    lora: bool = False
    lora_r: int = 16
    resume: bool = False
    save_steps: int = 200
    logging_steps: int = 10
    seed: int = 0
    eval_fraction: float = 0.0

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR["lora" if self.lora else "full"]

    def record(self) -> dict[str, Any]:
        """JSON-ready settings for finetune.json."""
        values = asdict(self)
        values.update(data=[str(p.resolve()) for p in self.data], out=str(self.out), learning_rate=self.learning_rate)
        return values


@dataclass
class FinetuneSummary:
    out: Path
    examples: int
    train_examples: int
    eval_examples: int
    global_step: int
    first_loss: float | None
    final_loss: float | None
    seconds_per_step: float | None
    problem_ids: frozenset[str] = field(default_factory=frozenset)


# -- data ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EditSequence:
    instruction: str
    edits: tuple[str, ...]
    problem_id: str | None = None
    prompt_edits: int = 0  # leading diffs (a task's starter) that are prompt, not loss


def read_edit_sequences(paths: Sequence[Path]) -> list[EditSequence]:
    """Every line of every file, checked; raises FinetuneError naming the file and line."""
    sequences = []
    for path in paths:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise FinetuneError(f"cannot read {path}: {exc.strerror or exc}") from None
        for number, line in enumerate(lines, 1):
            if line.strip():
                sequences.append(_edit_sequence(line, f"{path}:{number}"))
    if not sequences:
        raise FinetuneError(f"no examples in {', '.join(map(str, paths))}; write some with agent export or agent lintseq")
    return sequences


def _edit_sequence(line: str, where: str) -> EditSequence:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise FinetuneError(f"{where}: not a JSON line ({exc})") from None
    if not isinstance(record, dict):
        raise FinetuneError(f"{where}: expected a JSON object with instruction and edits")
    instruction, edits = record.get("instruction"), record.get("edits")
    if not isinstance(instruction, str) or not instruction.strip():
        raise FinetuneError(f"{where}: 'instruction' must be a non-empty string")
    if not isinstance(edits, list) or not edits or not all(isinstance(e, str) and e.strip() for e in edits):
        raise FinetuneError(f"{where}: 'edits' must be a non-empty list of diff strings")
    if any(DIFF_TOKEN in text for text in (instruction, *edits)):
        raise FinetuneError(f"{where}: the text contains {DIFF_TOKEN}, which separates diffs; remove it")
    problem_id = record.get("problem_id")
    prompt_edits = record.get("prompt_edits", 0)
    if not isinstance(prompt_edits, int) or isinstance(prompt_edits, bool) or not 0 <= prompt_edits < len(edits):
        raise FinetuneError(f"{where}: 'prompt_edits' must be an integer from 0 to {len(edits) - 1} "
                            f"(the diffs before the first one the model learns), got {prompt_edits!r}")
    return EditSequence(instruction, tuple(edits), problem_id if isinstance(problem_id, str) else None, prompt_edits)


def tokenize_example(tokenizer, prompt: str, completion: str) -> dict[str, list[int]]:
    """input_ids of prompt + completion, encoded as at inference, and the completion mask
    (1 on the tokens the loss covers)."""
    from policies.sampling import encode_prompt

    prompt_ids = encode_prompt(tokenizer, prompt)
    ids = encode_prompt(tokenizer, prompt + completion)
    # The prompt ends with the special <|diff|> token, so it is a prefix of the whole; a merge
    # across the boundary would only shift where the completion starts.
    start = next((i for i, (a, b) in enumerate(zip(prompt_ids, ids)) if a != b), min(len(prompt_ids), len(ids)))
    return {"input_ids": ids, "completion_mask": [0] * start + [1] * (len(ids) - start)}


def build_dataset(sequences: Sequence[EditSequence], tokenizer):
    """A `datasets.Dataset` of input_ids + completion_mask, ready for SFTTrainer."""
    from datasets import Dataset

    rows = [tokenize_example(tokenizer, *training_example(s.instruction, s.edits, tokenizer.eos_token, s.prompt_edits))
            for s in sequences]
    return Dataset.from_list(rows)


def training_problem_ids(sequences: Iterable[EditSequence], paths: Sequence[Path]) -> frozenset[str]:
    """Problems the data came from: each file's provenance record and each line's problem_id
    (so a data file copied without its provenance file still protects the benchmark)."""
    ids = {s.problem_id for s in sequences if s.problem_id}
    for path in paths:
        ids |= read_provenance(data_provenance_path(path))
    return frozenset(ids)


# -- model --------------------------------------------------------------------------------------
def add_diff_token(model, tokenizer) -> tuple[int, bool]:
    """Make `<|diff|>` a special token of the model: (its id, whether it was added)."""
    import torch

    if DIFF_TOKEN in tokenizer.get_vocab():
        return tokenizer.convert_tokens_to_ids(DIFF_TOKEN), False
    tokenizer.add_tokens([DIFF_TOKEN], special_tokens=True)
    token_id = tokenizer.convert_tokens_to_ids(DIFF_TOKEN)
    if token_id >= model.get_input_embeddings().weight.shape[0]:  # some vocabularies leave spare rows
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    with torch.no_grad():
        layers = [model.get_input_embeddings(), model.get_output_embeddings()]
        for weight in {id(m.weight): m.weight for m in layers if m is not None}.values():
            weight[token_id] = weight[:token_id].mean(dim=0)
    return token_id, True


def lora_config(model, token_id: int, r: int):
    """LoRA on every linear layer, plus the `<|diff|>` row (and an untied output layer)."""
    try:
        from peft import LoraConfig
    except ImportError:
        raise FinetuneError("--lora needs the peft package: pip install peft") from None
    output = model.get_output_embeddings()
    tied = output is None or output.weight is model.get_input_embeddings().weight
    output_name = None if tied else next(n for n, m in model.named_modules() if m is output).rsplit(".", 1)[-1]
    return LoraConfig(
        r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM",
        trainable_token_indices=[token_id],
        # An untied output layer has its own <|diff|> row, which the model needs to write the token.
        modules_to_save=None if tied else [output_name],
    )


def expose_output_bias(model) -> None:
    """Let TRL's fused loss read `lm_head.bias` through peft's trainable-tokens wrapper.

    TRL 1.16 computes the loss from `lm_head.weight` and `lm_head.bias` directly. peft 0.21's
    TrainableTokensWrapper (on a tied output layer) answers `.weight` with the trained rows
    but raises on `.bias`; the wrapped layer's own bias (usually None) is the right answer.
    """
    head = model.get_output_embeddings()
    if head is not None and not hasattr(head, "bias"):
        head.bias = getattr(head.original_module, "bias", None)


# -- logging ------------------------------------------------------------------------------------
def prepare_out(settings: FinetuneSettings) -> str | None:
    """Check OUT fits a fresh run or a resume; return the checkpoint to resume from."""
    from transformers.trainer_utils import get_last_checkpoint

    out, checkpoints = settings.out, settings.out / CHECKPOINTS
    if out.exists() and not out.is_dir():
        raise FinetuneError(f"{out} is a file; --out must be a folder")
    last = get_last_checkpoint(str(checkpoints)) if checkpoints.is_dir() else None
    if not settings.resume:
        # Only the log and summary of a run that died before its first checkpoint may be overwritten.
        leftovers = {p.name for p in out.iterdir()} - {SUMMARY, LOG, CHECKPOINTS} if out.is_dir() else set()
        if leftovers or last is not None:
            raise FinetuneError(f"{out} is not empty; choose a new --out, or pass --resume to continue its training")
        out.mkdir(parents=True, exist_ok=True)
        return None
    if last is None:
        raise FinetuneError(f"nothing to resume: {checkpoints} holds no checkpoint-N folder")
    earlier = json.loads((out / SUMMARY).read_text()) if (out / SUMMARY).exists() else {}
    now = settings.record()
    changed = [k for k in RESUME_INVARIANTS if k in earlier.get("settings", {}) and earlier["settings"][k] != now[k]]
    if changed:
        raise FinetuneError(f"--resume needs the earlier run's {', '.join(changed)} "
                            f"(see {out / SUMMARY}); only --max-steps, --epochs, --save-steps and --logging-steps may change")
    return last


@dataclass
class Run:
    """Everything `finetune` trains and reports on, built by `prepare` (tests inspect it)."""

    trainer: Any
    tokenizer: Any
    sequences: list[EditSequence]
    examples: int
    truncated: int  # examples longer than max_length (cut at the end)
    token_id: int  # of <|diff|>
    token_added: bool
    resume_from: str | None
    model_source: str
    device: str


def prepare(settings: FinetuneSettings) -> Run:
    """Read the data, check OUT, load the model, add <|diff|>, build the SFTTrainer."""
    import torch
    from trl import SFTConfig, SFTTrainer

    from agent import wiring
    from policies.devices import resolve_device

    sequences = read_edit_sequences(settings.data)
    resume_from = prepare_out(settings)
    device = resolve_device(None)
    try:
        loaded = wiring.load_trainable_model(settings.model, device=device, dtype="float32")
    except wiring.WiringError as exc:
        raise FinetuneError(str(exc)) from None
    model, tokenizer = loaded.model, loaded.tokenizer
    if tokenizer.eos_token is None:
        raise FinetuneError(f"{settings.model!r} has no eos token; an edit sequence must end with one")
    token_id, added = add_diff_token(model, tokenizer)
    dataset = build_dataset(sequences, tokenizer)
    train, evaluation = _split(dataset, settings)

    no_checkpointing = {_checkpointing_field(SFTConfig): False}  # SFTConfig's default is on
    config = SFTConfig(
        output_dir=str(settings.out / CHECKPOINTS),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps if settings.max_steps is not None else -1,
        learning_rate=settings.learning_rate,
        per_device_train_batch_size=settings.batch_size,
        per_device_eval_batch_size=settings.batch_size,
        gradient_accumulation_steps=settings.grad_accum,
        max_length=settings.max_length,
        completion_only_loss=True,
        save_strategy="steps", save_steps=settings.save_steps, save_total_limit=KEEP_CHECKPOINTS,
        logging_steps=settings.logging_steps, logging_first_step=True,
        eval_strategy="steps" if evaluation is not None else "no", eval_steps=settings.save_steps,
        seed=settings.seed, data_seed=settings.seed,
        use_cpu=device == "cpu",
        bf16=device != "cpu" and torch.cuda.is_bf16_supported(), fp16=False,  # SFTConfig defaults to bf16
        report_to="none", dataloader_num_workers=0,
        **no_checkpointing,
    )
    trainer = SFTTrainer(
        model=model, args=config, train_dataset=train, eval_dataset=evaluation, processing_class=tokenizer,
        peft_config=lora_config(model, token_id, settings.lora_r) if settings.lora else None,
        callbacks=[make_log_callback(settings.out / LOG)],
    )
    if settings.lora:
        expose_output_bias(trainer.model)
    return Run(trainer=trainer, tokenizer=tokenizer, sequences=sequences, examples=len(dataset),
               truncated=sum(len(ids) > settings.max_length for ids in dataset["input_ids"]),
               token_id=token_id, token_added=added, resume_from=resume_from,
               model_source=str(loaded.source), device=device)


def finetune(settings: FinetuneSettings) -> FinetuneSummary:
    """Train, then save the final model into settings.out (see the module docstring)."""
    run = prepare(settings)
    trainer = run.trainer
    log_path = settings.out / LOG
    _restart_log(log_path, run.resume_from)
    _write_summary(settings, status="training", extra={"model_source": run.model_source})
    output = trainer.train(resume_from_checkpoint=run.resume_from)

    trained = trainer.model.merge_and_unload() if settings.lora else trainer.model
    problem_ids = training_problem_ids(run.sequences, settings.data)
    save_final_model(trained, run.tokenizer, settings.out, problem_ids, settings.data)

    records = read_log(log_path)
    losses = [r["loss"] for r in records if "loss" in r]
    steps = trainer.state.global_step
    evaluation = trainer.eval_dataset
    summary = FinetuneSummary(
        out=settings.out, examples=run.examples, train_examples=len(trainer.train_dataset),
        eval_examples=0 if evaluation is None else len(evaluation), global_step=steps,
        first_loss=losses[0] if losses else None, final_loss=losses[-1] if losses else None,
        seconds_per_step=output.metrics["train_runtime"] / steps if steps else None, problem_ids=problem_ids,
    )
    if records:
        plot_losses(records, settings.out / PLOT, f"{settings.model} -> {settings.out.name}")
    _write_summary(settings, status="finished", extra={
        "model_source": run.model_source, "device": run.device, "diff_token_id": run.token_id,
        "diff_token_added": run.token_added, "examples": run.examples, "train_examples": summary.train_examples,
        "eval_examples": summary.eval_examples, "truncated_examples": run.truncated, "global_step": steps,
        "resumed_from": run.resume_from, "first_loss": summary.first_loss, "final_train_loss": summary.final_loss,
        "train_runtime_s": output.metrics["train_runtime"], "seconds_per_step": summary.seconds_per_step,
        "training_problems": len(problem_ids),
    })
    return summary


def _checkpointing_field(config_class) -> str:
    """transformers 5.23 renamed gradient_checkpointing to activation_checkpointing (the old
    name warns); use whichever this version has."""
    names = {f.name for f in fields(config_class)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _split(dataset, settings: FinetuneSettings):
    if not settings.eval_fraction:
        return dataset, None
    n_eval = max(1, math.ceil(len(dataset) * settings.eval_fraction))
    if n_eval >= len(dataset):
        raise FinetuneError(f"--eval-fraction {settings.eval_fraction} leaves no training examples "
                            f"out of {len(dataset)}")
    split = dataset.train_test_split(test_size=n_eval, seed=settings.seed)
    return split["train"], split["test"]


def _restart_log(path: Path, resume_from: str | None) -> None:
    """Fresh run: an empty log. Resume: keep the lines up to the checkpoint's step (later ones
    were trained again from the checkpoint and will be logged again)."""
    step = int(Path(resume_from).name.rsplit("-", 1)[-1]) if resume_from else 0
    kept = [r for r in read_log(path) if r["step"] <= step]
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in kept))


def save_final_model(model, tokenizer, out: Path, problem_ids: Iterable[str], data: Sequence[Path]) -> None:
    """save_pretrained into OUT so that it never looks complete half-written (module docstring)."""
    tmp = out / FINAL_TMP
    shutil.rmtree(tmp, ignore_errors=True)  # our own leftover from a killed save
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    write_provenance(tmp / MODEL_FILE, problem_ids, sources=data)
    (out / MODEL_MARKER).unlink(missing_ok=True)  # a resumed run's earlier model is incomplete from here
    files = sorted(tmp.iterdir(), key=lambda p: p.name == MODEL_MARKER)  # config.json last
    for path in files:
        os.replace(path, out / path.name)
    tmp.rmdir()


def _write_summary(settings: FinetuneSettings, *, status: str, extra: dict[str, Any]) -> None:
    record = {"status": status, "settings": settings.record(), **extra, "versions": versions()}
    write_text_atomic(settings.out / SUMMARY, json.dumps(record, indent=2) + "\n")
