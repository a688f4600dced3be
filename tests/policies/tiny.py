"""Tiny randomly initialised models of each real policy family, built offline inside tests.

`make_tiny(family, tmp_path)` writes a `save_pretrained` folder (config, weights, tokenizer,
generation config) so tests load it through the same `policies.loading.load_model(dir)` path
a real checkpoint takes. Each model has the real family's architecture and special tokens,
about 100-200K parameters, and a byte-level BPE tokenizer trained on a small Python corpus
here (byte-level: any text encodes, so formats can be exercised with arbitrary programs).

Families (the real checkpoint each stands in for):
  olmo         TinyCodeLM-LintSeqInstruct   eos <|endoftext|>, the <|diff|> separator token
  codegen      CarperAI diff-codegen        <NME> <BEF> <MSG> <DFF> stay plain text, as in the real model
  gpt_neox     FIM-NeoX                     <|SUF|> <|PRE|> <|MID|>
  gpt2         SantaCoder (original, gpt2)  <fim-prefix> <fim-suffix> <fim-middle> <fim-pad>
  gpt_bigcode  SantaCoder (gpt_bigcode)     same dashed FIM tokens
  starcoder    StarCoder (gpt_bigcode)      <fim_prefix> <fim_suffix> <fim_middle> <fim_pad>
  llama        SmolLM2-Instruct             <|endoftext|> <|im_start|> <|im_end|>, ChatML template
  qwen2        Qwen2.5-Coder                <|fim_prefix|> <|fim_suffix|> <|fim_middle|> <|fim_pad|>, ChatML
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

FAMILIES = ("olmo", "codegen", "gpt_neox", "gpt2", "gpt_bigcode", "starcoder", "llama", "qwen2")

CHATML_TEMPLATE = (  # SmolLM2-Instruct's template, verbatim from its GGUF
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Per family: the special tokens in id order (ids 0..k-1, as in the real vocabularies where
# that matters, e.g. SmolLM2's <|endoftext|>=0, <|im_start|>=1, <|im_end|>=2) and their roles.
SPECIAL_TOKENS: dict[str, dict] = {
    "olmo": dict(tokens=["<|endoftext|>", "<|padding|>", "<|diff|>"], eos="<|endoftext|>", pad="<|padding|>"),
    "codegen": dict(tokens=["<|endoftext|>"], eos="<|endoftext|>", bos="<|endoftext|>"),
    "gpt_neox": dict(tokens=["<|endoftext|>", "<|padding|>", "<|SUF|>", "<|PRE|>", "<|MID|>"],
                     eos="<|endoftext|>", pad="<|padding|>"),
    "gpt2": dict(tokens=["<|endoftext|>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>"],
                 eos="<|endoftext|>", bos="<|endoftext|>", pad="<fim-pad>"),
    "gpt_bigcode": dict(tokens=["<|endoftext|>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>"],
                        eos="<|endoftext|>", bos="<|endoftext|>", pad="<fim-pad>"),
    "starcoder": dict(tokens=["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"],
                      eos="<|endoftext|>", bos="<|endoftext|>", pad="<fim_pad>"),
    "llama": dict(tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"], eos="<|im_end|>",
                  bos="<|im_start|>", pad="<|im_end|>", unk="<|endoftext|>", chat=CHATML_TEMPLATE),
    "qwen2": dict(tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>",
                          "<|fim_suffix|>", "<|fim_pad|>"], eos="<|endoftext|>", pad="<|endoftext|>",
                  chat=CHATML_TEMPLATE),
}

_CORPUS = [
    'def add(a, b):\n    """Return the sum of a and b."""\n    return a + b\n',
    "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
    "for i in range(10):\n    print(i)\n",
    "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n",
    "import math\n\ndef area(r: float) -> float:\n    return math.pi * r ** 2\n",
    "@@ -0,0 +1 @@\n+def f(x):\n@@ -1,0 +2,2 @@\n+    y = x * 2\n+    return y\n",
    "@@ -3,3 +3,4 @@\n     if x:\n-        return 1\n+        return 2\n",
    "```python\ndef solve(nums):\n    return sorted(nums)\n```\n",
    ">>> add(2, 3)\n5\nassert fib(10) == 55\n",
    "Write a function that returns the largest element of a list.\n",
]


def make_tiny(family: str, tmp_path: Path, *, seed: int = 0) -> Path:
    """Build the tiny `family` model, save it under `tmp_path / f"tiny-{family}"`, return that dir.

    Deterministic for a given seed. Raises ValueError for an unknown family (listing them).
    """
    if family not in SPECIAL_TOKENS:
        raise ValueError(f"unknown family {family!r}; choose from {FAMILIES}")
    import torch

    out = Path(tmp_path) / f"tiny-{family}"
    tokenizer = make_tokenizer(family)
    spec = SPECIAL_TOKENS[family]
    ids = {role: tokenizer.convert_tokens_to_ids(spec[role]) for role in ("eos", "bos", "pad") if role in spec}
    torch.manual_seed(seed)
    model = _build_model(family, len(tokenizer), ids)
    model.generation_config.eos_token_id = ids["eos"]
    model.generation_config.pad_token_id = ids.get("pad", ids["eos"])
    model.generation_config.bos_token_id = ids.get("bos")
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def make_tokenizer(family: str):
    """A fresh PreTrainedTokenizerFast for `family` (byte-level BPE, ~400 tokens)."""
    from transformers import PreTrainedTokenizerFast

    spec = SPECIAL_TOKENS[family]
    roles = {f"{role}_token": spec[role] for role in ("eos", "bos", "pad", "unk") if role in spec}
    named = set(roles.values())
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_trained_bpe(tuple(spec["tokens"])),
        extra_special_tokens=[t for t in spec["tokens"] if t not in named],
        **roles,
    )
    if "chat" in spec:
        tokenizer.chat_template = spec["chat"]
    return tokenizer


@lru_cache(maxsize=None)
def _bpe_json(special: tuple[str, ...]) -> str:
    # Cached as JSON (training costs tens of ms; a Tokenizer object is mutable, JSON is not).
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=list(special),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodes: no unknown text
        show_progress=False,
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok.to_str()


def _trained_bpe(special: tuple[str, ...]):
    from tokenizers import Tokenizer

    return Tokenizer.from_str(_bpe_json(special))


def _build_model(family: str, vocab: int, ids: dict[str, int]):
    """A 2-layer, 64-wide model of the family's architecture (about 100-200K parameters)."""
    import transformers as tf

    common_ids = dict(eos_token_id=ids["eos"], bos_token_id=ids.get("bos"), pad_token_id=ids.get("pad"))
    width = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)
    gpt_width = dict(n_embd=64, n_layer=2, n_head=4, n_positions=2048)
    if family == "olmo":
        config = tf.OlmoConfig(vocab_size=vocab, max_position_embeddings=2048, **width, **common_ids)
    elif family == "codegen":
        config = tf.CodeGenConfig(vocab_size=vocab, n_ctx=2048, rotary_dim=8, **gpt_width, **common_ids)
    elif family == "gpt_neox":
        config = tf.GPTNeoXConfig(vocab_size=vocab, max_position_embeddings=2048, rotary_pct=0.25,
                                  **width, **common_ids)
    elif family == "gpt2":
        config = tf.GPT2Config(vocab_size=vocab, **gpt_width, **common_ids)
    elif family in ("gpt_bigcode", "starcoder"):
        config = tf.GPTBigCodeConfig(vocab_size=vocab, multi_query=True, **gpt_width, **common_ids)
    elif family == "llama":
        config = tf.LlamaConfig(vocab_size=vocab, max_position_embeddings=2048, num_key_value_heads=2,
                                tie_word_embeddings=True, **width, **common_ids)
    else:  # qwen2
        config = tf.Qwen2Config(vocab_size=vocab, max_position_embeddings=2048, num_key_value_heads=2,
                                tie_word_embeddings=True, **width, **common_ids)
    return tf.AutoModelForCausalLM.from_config(config)
