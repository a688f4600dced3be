"""`agent finetune` on a tiny random Llama (the SmolLM2 stand-in of tests/policies/tiny.py), on CPU:
the loss covers completions only, falls, and the saved folder loads as an edit-sequence policy;
LoRA merges with the new token's row kept; resume continues the step count."""

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from agent.cli import main
from agent.config import PolicyConfig
from agent.training.finetune import FinetuneSettings, prepare
from agent.training.provenance import MODEL_FILE, data_provenance_path, read_provenance, write_provenance
from envs.problem import Problem
from envs.program import Program
from policies.base import State
from policies.formats.edit_sequence import DIFF_TOKEN, history_diffs, training_example
from policies.sampling import encode_prompt

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "policies"))  # tests/policies/tiny.py
from tiny import make_tiny  # noqa: E402  pylint: disable=wrong-import-position

PROGRAMS = {
    "toy/add": "def add(a, b):\n    total = a + b\n    return total\n",
    "toy/inc": "def inc(x):\n    return x + 1\n",
    "toy/neg": "def neg(x):\n    y = -x\n    return y\n",
    "toy/sq": "def sq(x):\n    return x * x\n",
    "toy/first": "def first(xs):\n    if xs:\n        return xs[0]\n    return None\n",
}
FAST = ["--lr", "5e-3", "--batch-size", "5", "--logging-steps", "1"]  # a random model learns these quickly


def line_by_line(text):
    """The edit sequence writing `text` one line at a time, from the empty program."""
    lines = text.splitlines(keepends=True)
    return history_diffs([Program.from_text("".join(lines[:i])) for i in range(len(lines) + 1)])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny("llama", tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two data files: an export-like one with a provenance record, and one without either."""
    root = tmp_path_factory.mktemp("data")
    exported, corpus = root / "train.jsonl", root / "corpus.jsonl"
    lines = [{"instruction": f"Write {pid.split('/')[1]}.", "edits": line_by_line(text), "program": text,
              "problem_id": pid, "origin": "rollout"} for pid, text in PROGRAMS.items()]
    exported.write_text("".join(json.dumps(line) + "\n" for line in lines[:3]))
    write_provenance(data_provenance_path(exported), ["toy/add", "toy/inc", "toy/neg", "toy/from-provenance"])
    corpus.write_text("".join(json.dumps({k: v for k, v in line.items() if k != "problem_id"}) + "\n"
                              for line in lines[3:]))
    return exported, corpus


def finetune(tmp_path, tiny, data, *flags, out="ft"):
    status = main(["finetune", *map(str, data), "--model", str(tiny), "--out", str(tmp_path / out), *flags])
    return status, tmp_path / out


def log_of(out):
    return [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]


def test_labels_cover_the_completion_tokens_only(tmp_path, tiny, data):
    run = prepare(FinetuneSettings(data=data, model=str(tiny), out=tmp_path / "ft"))
    tokenizer, rows = run.tokenizer, run.trainer.train_dataset
    assert run.token_added and tokenizer.convert_tokens_to_ids(DIFF_TOKEN) == run.token_id
    assert len(rows) == len(PROGRAMS)
    for row, sequence in zip(rows, run.sequences):
        prompt, completion = training_example(sequence.instruction, sequence.edits, tokenizer.eos_token)
        n_prompt = len(encode_prompt(tokenizer, prompt))
        labels = row["labels"]
        assert row["input_ids"] == encode_prompt(tokenizer, prompt + completion)  # raw text: no chat template
        assert labels[:n_prompt] == [-100] * n_prompt
        assert labels[n_prompt:] == row["input_ids"][n_prompt:]
        assert tokenizer.decode(labels[n_prompt:], skip_special_tokens=False) == completion
    batch = run.trainer.data_collator([rows[i] for i in range(len(rows))])
    padded = batch["attention_mask"] == 0
    assert padded.any() and (batch["labels"][padded] == -100).all()  # padding is never a target
    expected = [len(r["input_ids"]) - len(encode_prompt(tokenizer, training_example(
        s.instruction, s.edits, tokenizer.eos_token)[0])) for r, s in zip(rows, run.sequences)]
    assert (batch["labels"] != -100).sum(dim=1).tolist() == expected


def test_full_finetune_lowers_the_loss_and_saves_an_edit_sequence_policy(tmp_path, tiny, data):
    from agent.wiring import build_policy

    status, out = finetune(tmp_path, tiny, data, "--max-steps", "30", "--save-steps", "100", *FAST)
    assert status == 0
    losses = [r["loss"] for r in log_of(out)]
    assert len(losses) == 30 and losses[-1] < 0.6 * losses[0]
    summary = json.loads((out / "finetune.json").read_text())
    assert summary["status"] == "finished" and summary["global_step"] == 30
    assert summary["final_train_loss"] == losses[-1] and summary["examples"] == len(PROGRAMS)
    assert (out / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not (out / ".final.tmp").exists()
    # Provenance: the export's record plus the problem ids on the lines themselves.
    assert read_provenance(out / MODEL_FILE) == {"toy/add", "toy/inc", "toy/neg", "toy/from-provenance"}

    policy = build_policy(replace(PolicyConfig(), model=str(out), format="auto", device="cpu", max_new_tokens=16))
    assert policy.fmt.name == "edit_sequence"
    problem = Problem(id="toy/add", prompt="Write add.", entry_point="add", tests=())
    batch = policy.propose(problem, State(Program(())), [None], 3, seed=0)
    assert len(batch.proposals) == 3 and batch.generated_tokens > 0


def test_lora_merges_into_a_plain_model_with_the_trained_diff_row(tmp_path, tiny, data):
    from policies.loading import load_model

    status, out = finetune(tmp_path, tiny, data, "--lora", "--max-steps", "30", "--save-steps", "100",
                           *FAST[2:], "--lr", "1e-2")
    assert status == 0
    losses = [r["loss"] for r in log_of(out)]
    # Less than full finetuning: the tied embedding, the output layer too, is frozen but for <|diff|>.
    assert losses[-1] < 0.85 * losses[0]
    assert not (out / "adapter_config.json").exists()  # merged: a plain model folder
    trained, base = load_model(str(out)).model, load_model(str(tiny)).model
    embedding, diff_id = trained.get_input_embeddings().weight, trained.config.vocab_size - 1
    assert trained.get_output_embeddings().weight.data_ptr() == embedding.data_ptr()  # still tied
    old = base.get_input_embeddings().weight
    assert (embedding[:diff_id] == old).all()  # LoRA leaves the other rows alone ...
    moved = (embedding[diff_id] - old.mean(dim=0)).norm()  # ... and <|diff|> started at their mean
    assert moved > 0.5 * old.norm(dim=1).mean()
    base_q = base.model.layers[0].self_attn.q_proj.weight
    assert not (trained.model.layers[0].self_attn.q_proj.weight == base_q).all()  # the adapters were merged


def test_resume_continues_from_the_last_checkpoint(tmp_path, tiny, data):
    status, out = finetune(tmp_path, tiny, data, "--max-steps", "4", "--save-steps", "2", *FAST)
    assert status == 0 and sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == [
        "checkpoint-2", "checkpoint-4"]
    assert finetune(tmp_path, tiny, data, "--max-steps", "6", *FAST)[0] == 2  # not empty: needs --resume
    status, out = finetune(tmp_path, tiny, data, "--max-steps", "6", "--save-steps", "2", "--resume", *FAST)
    summary = json.loads((out / "finetune.json").read_text())
    assert status == 0 and summary["global_step"] == 6 and summary["resumed_from"].endswith("checkpoint-4")
    assert [r["step"] for r in log_of(out)] == [1, 2, 3, 4, 5, 6]
    assert (out / "config.json").exists()


@pytest.mark.parametrize("case", ["no-edits", "missing-file", "resume-nothing", "other-batch"])
def test_bad_input_exits_2_with_one_line(tmp_path, tiny, data, capsys, case):
    flags = ["--max-steps", "1"]
    if case == "no-edits":
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"instruction": "Write add.", "edits": []}) + "\n")
        data = (bad,)
    elif case == "missing-file":
        data = (tmp_path / "nope.jsonl",)
    elif case == "resume-nothing":
        flags.append("--resume")
    else:  # a resume must keep the batch settings
        assert finetune(tmp_path, tiny, data, "--max-steps", "1", "--save-steps", "1", *FAST)[0] == 0
        flags += ["--resume", "--batch-size", "2"]
    capsys.readouterr()
    status, _ = finetune(tmp_path, tiny, data, *flags)
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and err[-1].startswith("agent finetune: error:") and "Traceback" not in "\n".join(err)
