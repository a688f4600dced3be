"""Models that propose edits: the protocol (`base`), loading (`loading`, `devices`), prompt
formats (`formats`), the policy on a causal LM (`lm`), batched sampling (`sampling`, with
`prefill` and `prefix_cache`) and example calls for the choice among solutions (`calls`).
Imports envs, never agent."""
