"""Sampling throughput of LMPolicy against `model.generate`, on the embedded model.

For each batch size b, both generate exactly `--new-tokens` tokens per sample (EOS ignored,
no stop strings, so lengths match) from the same prompt: LMPolicy.sample_programs(n=b)
(the prompt encoded once, its cache repeated b times) and `model.generate(do_sample=True,
top_p=0.95, temperature=1.0)` on the prompt repeated b times. Each timing is the best of
`--repeats` interleaved runs after one warm-up (the load average goes to stderr: on a
shared machine, compare ratios, not absolute rates). Prints one line per batch size:

    generation policy_tok_s=<x> raw_generate_tok_s=<y> ratio=<x/y> batch=<b>

Usage: python benchmarks/generation.py [--batches 1,8,32] [--new-tokens 32] [--threads 2] [--model smollm2]
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time

from envs.problem import Problem
from policies.base import ParsedOutput, RenderedPrompt
from policies.lm import LMPolicy
from policies.sampling import SamplingParams
from policies.loading import load_model

PROMPT = "Write a Python function `fib(n)` that returns the n-th Fibonacci number."


class _FreeAnswer:
    """A minimal format: the chat prompt with the answer's code fence prefilled; no parsing."""

    name = "bench"

    def __init__(self, tokenizer) -> None:
        messages = [{"role": "user", "content": PROMPT}]
        chat = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        self.prompt = RenderedPrompt(text=chat + "```python\n", prefill="```python\n")

    def render_program_prompt(self, problem):
        return self.prompt

    def parse_program_output(self, problem, text):
        return ParsedOutput("ok")


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2", help="model spec (see policies.loading)")
    parser.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes")
    parser.add_argument("--new-tokens", type=int, default=32, help="tokens generated per sample")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per measurement (best kept)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (the machine is shared; on a busy 2-core box 1 is several times faster)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    fmt = _FreeAnswer(loaded.tokenizer)
    policy = LMPolicy(loaded, fmt, params=SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=args.new_tokens),
                      ignore_eos=True)
    problem = Problem(id="bench", prompt=PROMPT, entry_point="fib", tests=())
    ids = loaded.tokenizer(fmt.prompt.text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    config = copy.deepcopy(loaded.model.generation_config)
    config.eos_token_id = None  # generate the full length, like the policy with ignore_eos
    config.pad_token_id = loaded.tokenizer.pad_token_id or 0

    print(f"# load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs, {args.threads} torch threads",
          file=sys.stderr)
    batches = [int(x) for x in args.batches.split(",")]
    for b in batches:
        inputs = ids.repeat(b, 1).to(loaded.device)

        def raw() -> None:
            with torch.inference_mode():
                out = loaded.model.generate(
                    inputs, attention_mask=torch.ones_like(inputs), generation_config=config, do_sample=True,
                    top_p=0.95, temperature=1.0, top_k=0, max_new_tokens=args.new_tokens,
                )
            assert out.shape[1] - inputs.shape[1] == args.new_tokens, out.shape

        def ours() -> None:
            batch = policy.sample_programs(problem, b, seed=0)
            assert batch.generated_tokens == b * args.new_tokens, batch.generated_tokens

        if b == batches[0]:  # warm-up once (first calls allocate and pick kernels)
            raw()
            ours()
        tokens = b * args.new_tokens
        # Interleaved and best-of: on a shared machine the load changes between runs.
        raw_s, ours_s = zip(*[(_seconds(raw), _seconds(ours)) for _ in range(args.repeats)])
        raw_tok_s, ours_tok_s = tokens / min(raw_s), tokens / min(ours_s)
        print(
            f"generation policy_tok_s={ours_tok_s:.1f} raw_generate_tok_s={raw_tok_s:.1f} "
            f"ratio={ours_tok_s / raw_tok_s:.2f} batch={b}",
            flush=True,
        )


if __name__ == "__main__":
    main()
