"""Generated tokens/s of the code model in bfloat16 against float32, and what bf16 costs in log-probs.

The default code model (qwen-coder-0.5b) runs in bf16 on CPUs with native bf16 instructions
(policies.devices); this measures that choice in one run, on the engine the search uses
(`generate_samples`: shared prompt prefix, our decode loop, log-probs). For each batch size,
both dtypes generate exactly `--new-tokens` tokens a row (EOS ignored) from the same chat
prompt, best of `--repeats` interleaved runs after a warm-up. Then, teacher-forced on one
float32 sample, the per-token log-prob difference bf16 - float32, and a seed replay check
(the same seed twice gives the same tokens). Prints one line per batch size and a summary:

    speed batch=8 float32_tok_s=<x> bfloat16_tok_s=<y> ratio=<y/x>
    logprobs tokens=<n> mean_abs_nats=<m> max_abs_nats=<M>
    replay same_tokens=<True|False>

Usage: python benchmarks/policy_speed.py [--batches 1,8] [--new-tokens 48] [--threads 1]
(the load average goes to stderr: on a shared machine compare the ratio, not the rates)
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen-coder-0.5b", help="model spec (policies.loading)")
    parser.add_argument("--batches", default="1,8", help="comma-separated batch sizes (8: the search's fresh rows)")
    parser.add_argument("--new-tokens", type=int, default=48, help="tokens generated per row")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per measurement (best kept)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (policy.threads: 1)")
    args = parser.parse_args()

    import torch

    from policies.loading import load_model
    from policies.sampling import SamplingParams, encode_prompt, generate_samples

    torch.set_num_threads(args.threads)
    fp32 = load_model(args.model, dtype="float32")
    bf16 = copy.copy(fp32)
    bf16.model = copy.deepcopy(fp32.model).to(torch.bfloat16)
    tokenizer = fp32.tokenizer
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Write a Python function `fib(n)` that returns the n-th Fibonacci number."}],
        tokenize=False, add_generation_prompt=True)
    ids = encode_prompt(tokenizer, chat + "```python\n")
    params = SamplingParams(max_new_tokens=args.new_tokens)

    def run(loaded, batch: int, seed: int = 0):
        return generate_samples(loaded, [ids], batch, params=params, seed=seed, ignore_eos=True)

    print(f"load average {os.getloadavg()}", file=sys.stderr)
    for batch in (int(b) for b in args.batches.split(",")):
        best = {}
        for loaded in (fp32, bf16):
            run(loaded, batch)  # warm-up
        for _ in range(args.repeats):
            for name, loaded in (("float32", fp32), ("bfloat16", bf16)):
                start = time.perf_counter()
                run(loaded, batch)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - start)
        rates = {name: batch * args.new_tokens / seconds for name, seconds in best.items()}
        print(f"speed batch={batch} float32_tok_s={rates['float32']:.1f} bfloat16_tok_s={rates['bfloat16']:.1f} "
              f"ratio={rates['bfloat16'] / rates['float32']:.2f}", flush=True)

    sample = run(fp32, 1, seed=1).token_ids[0]
    sequence = torch.tensor([ids + sample])

    def logprobs(loaded):
        with torch.inference_mode():
            logits = loaded.model(sequence).logits[0, len(ids) - 1:-1].float()
        return torch.log_softmax(logits, -1).gather(1, sequence[0, len(ids):, None]).squeeze(1)

    diff = (logprobs(bf16) - logprobs(fp32)).abs()
    print(f"logprobs tokens={diff.numel()} mean_abs_nats={diff.mean():.4f} max_abs_nats={diff.max():.4f}")
    print(f"replay same_tokens={run(bf16, 4, seed=7).token_ids == run(bf16, 4, seed=7).token_ids}")
    print(f"load average {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
