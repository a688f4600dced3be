"""What a policy is: it turns (problem, program state, hunk locations, n) into proposals.

`Policy` is the protocol the search talks to; `EditFormat` is the protocol each model
format module (edit sequence, commit diff, FIM, continuation) implements. Formats render
prompts and parse model text; the generic `policies.lm.LMPolicy` does the sampling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Protocol, Sequence, Union

from envs.diff import Edit
from envs.locations import Location
from envs.problem import Problem
from envs.program import Program

if TYPE_CHECKING:
    from policies.calls import ProposedCalls

@dataclass(frozen=True)
class State:
    """A program state as the policy sees it: the program and the path that made it.

    `history` holds the states from the root (the starter program) to this one, inclusive,
    so `history[-1] == program`; formats that show the model its own edits (edit sequence)
    render consecutive pairs of it as diffs.
    """

    program: Program
    history: tuple[Program, ...] = ()
    # Visible-test failures of `program`, one line each ("f(1): got 3, expected 2"); formats
    # that can show them (continuation's free mode) ask the model to fix them. Never hidden tests:
    # the search only holds visible reports.
    feedback: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.history:
            object.__setattr__(self, "history", (self.program,))


@dataclass(frozen=True)
class BlockEnd:
    """A stop that is not a fixed string: a new line whose code (not blank, not a comment) starts
    at or left of column `depth`, i.e. the block indented deeper than `depth` has ended. With
    `depth` the entry function's `def` column, it ends a sample once the function is complete:
    a format that keeps only the function would otherwise pay for the test calls and examples
    the model writes after it. A stop in `RenderedPrompt.stop` beside the strings."""

    depth: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pattern", re.compile(r"\n[ \t]{0,%d}[^\s#]" % self.depth))

    def find(self, text: str, start: int = 0, end_after: int = 0) -> int:
        """Where the first match that begins at or after `start` and ends after `end_after`
        begins, or -1 (as `str.find`)."""
        match = next((m for m in self._pattern.finditer(text, start) if m.end() > end_after), None)
        return match.start() if match else -1

    def __len__(self) -> int:  # the longest text a match spans (a prompt tail this long is searched)
        return self.depth + 2


Stop = Union[str, BlockEnd]


@dataclass(frozen=True)
class RenderedPrompt:
    """The exact text fed to the model, ending where generation starts.

    `prefill` is the tail of `text` that the agent wrote on the model's behalf (a hunk header
    start, a code fence, the program prefix); the format's parser receives
    `prefill + generated`. `stop` strings (and `BlockEnd`s) end a sample early (the text up to
    them is kept).
    """

    text: str
    prefill: str = ""
    stop: tuple[Stop, ...] = ()


@dataclass(frozen=True)
class ParsedOutput:
    """A format's reading of one sample. `status` is "ok" or a failure class (counted)."""

    status: str
    edit: Edit | None = None
    program: Program | None = None  # the state after applying `edit`
    detail: str = ""


@dataclass(frozen=True)
class Proposal:
    """One sampled edit. Failed parses are proposals too (edit/program None, status says why)."""

    status: str
    edit: Edit | None
    program: Program | None
    logprob: float  # sum of the log-probs of the generated tokens
    prompt_tokens: int  # length of this sample's prompt in tokens
    generated_tokens: int
    raw_text: str  # prefill + generated text, as the parser saw it
    location: Location | None
    detail: str = ""
    # (line, column) in `program` where the least likely generated token starts: a place the
    # policy was unsure of, where a cut child may branch (envs.locations.cut_locations)
    uncertain: tuple[str, int] | None = None
    # why generation ended: "eos", "stop", "doomed", "length" (max_new_tokens or the call's token
    # cap: the sample may be cut short); "" when the policy does not say
    finish: str = ""


@dataclass(frozen=True)
class ProposeGroup:
    """One state's share of a policy call that carries several: n samples at each location."""

    state: State
    locations: tuple[Location | None, ...]
    n: int


@dataclass(frozen=True)
class ProposalBatch:
    """Proposals from one policy call and the compute it really spent.

    `prompt_tokens_encoded` counts prompt tokens actually run through the model (a prompt
    shared by siblings is encoded once); `prompt_tokens_saved` is what sharing avoided.
    """

    proposals: tuple[Proposal, ...]
    prompt_tokens_encoded: int
    prompt_tokens_saved: int
    generated_tokens: int
    generate_s: float
    # Forward-pass FLOPs actually spent, ~2*N_params per token plus attention over the context
    # (Kaplan et al. 2020); computed by the policy, which knows its model's shape.
    flops: float = 0.0
    extra: dict = field(default_factory=dict)
    # The call's `CallCaps.tokens` could not pay for its prompt and one token a row: nothing ran, no
    # proposals, nothing spent (the search ends at its budget there instead of overshooting it).
    refused: bool = False


class EditFormat(Protocol):
    """Render prompts for one model family and parse its outputs into edits. Pure text.

    Formats subclass it (`class ContinuationFormat(EditFormat)`) to inherit the defaults of the
    optional members; `policies.lm.LMPolicy` uses every member directly."""

    name: str
    label: str = ""  # the name with its variant ("continuation:free_cut"), recorded in the policy's name; "": name
    # "cut": a child replaces the program after its location (envs.locations.cut_locations)
    edit_style: str = "insert"
    summary: str = ""  # one line for people on what the format (and its variant) does
    # code_so_far(prefill + generated text) -> the code a sample holds so far (None: not yet
    # readable), for stopping doomed samples early; None: the format cannot tell
    code_so_far: Callable[[str], "str | None"] | None = None

    def render_prompt(
        self, problem: Problem, state: State, location: Location | None
    ) -> RenderedPrompt: ...

    def parse_output(
        self, problem: Problem, state: State, location: Location | None, text: str
    ) -> ParsedOutput: ...

    def render_program_prompt(self, problem: Problem) -> RenderedPrompt:
        """Prompt for a whole program from the starter state in one go (sampling baseline)."""
        ...

    def parse_program_output(self, problem: Problem, text: str) -> ParsedOutput: ...


@dataclass(frozen=True)
class CallCaps:
    """What one policy call may spend: the search's budget as it reaches the sampler. One value
    travels from the loop's expansion through the strategy and the policy to the sampler under
    one name, `caps`."""

    # the most tokens (prompt encoded + generated) the call may spend; None: no cap. A policy
    # that can price its prompt refuses a call it cannot pay (`ProposalBatch.refused`); the
    # sampler stops generating where it is spent.
    tokens: int | None = None
    # Whole rows, no token cap (tokens None): as many rows as fill this many tokens once the
    # prompt is paid, at most those asked for. The caller reads the rows in order and keeps
    # those that fit (`agent.search.loop._Run.draw_fresh`); a row is stopped ("past_fill") once
    # the rows up to it surely count more, so a row too many costs only the steps until that is
    # known, a row too few a whole call more. None: the rows asked for.
    fill_tokens: int | None = None
    max_new_tokens: int | None = None  # a lower length cap per sample for this call (None: the policy's own)
    stop_doomed: bool = False  # stop a sample once its code has an error no later line can repair

    def sample_length(self, policy_cap: int) -> int:
        """The length cap of this call's samples: the policy's own, or this call's if lower."""
        return policy_cap if self.max_new_tokens is None else min(policy_cap, self.max_new_tokens)


def expected_sample_tokens(whole_tokens: int, whole_samples: int, prior: float | None) -> float | None:
    """Tokens the next sample is expected to take: the mean length of the samples that ended by
    themselves, raised toward `prior` as if it were one more of them (never lowered: asking for
    too few rows costs a call, too many loses one). None prior: the plain mean; None when there
    is nothing to estimate from.

    A call's rows share its tokens and the sampler cuts every row still writing where they end.
    A plain mean after one short sample (a 20-token body) sized the next calls for rows the
    tokens left could not finish: rex lost 2 of the 164 HumanEval problems to sampling at 2
    samples' tokens and 5 at 5, every one this way (docs/results/README.md). Replaying that
    study's draws of sampling, this estimate cuts one of sampling's draws in 1 of the 492
    problem-budgets (the plain mean: 28), for about one more call a problem at 5 samples' tokens."""
    if not (whole_samples and whole_tokens):
        return prior
    mean = whole_tokens / whole_samples
    return mean if prior is None else max(mean, (whole_tokens + prior) / (whole_samples + 1))


class Policy(Protocol):
    """What the search needs from a model.

    Implementations subclass it (`class LMPolicy(Policy)`) to inherit the defaults of the
    optional members below; callers use every member directly, never probe for it. Every call
    takes the search's `CallCaps` as `caps` and a `seed`: the same seed gives the same
    proposals on CPU.
    """

    name: str
    # "cut": a child rewrites the program after its location (envs.locations.cut_locations);
    # "insert": a child inserts a hunk there. The search asks a "cut" policy at cut points.
    edit_style: str = "insert"
    # propose_groups can carry several states' requests in one call (the search batches nodes)
    can_propose_groups: bool = False
    # the length cap of a sample in tokens (None: unknown); the search prices a sample at half of
    # it before any sample has ended
    max_new_tokens: int | None = None
    summary: str = ""  # what the parts of `name` mean, one line for people (empty: nothing to say)

    def reset(self) -> None:
        """Start a new search: forget what earlier calls left (a policy without state does nothing)."""

    def propose(self, problem: Problem, state: State, locations: Sequence[Location | None], n: int, *,
                seed: int | None = None, caps: CallCaps = CallCaps()) -> ProposalBatch:
        """n samples per location, batched; proposals are location-major."""
        ...

    def propose_groups(self, problem: Problem, groups: Sequence[ProposeGroup], *, seed: int | None = None,
                       caps: CallCaps = CallCaps()) -> ProposalBatch:
        """Several states' `propose` requests in one call (proposals group-major, each group
        location-major); only called when `can_propose_groups`."""
        raise NotImplementedError(f"{type(self).__name__} cannot propose for several states in one call")

    def sample_programs(self, problem: Problem, n: int, *, seed: int | None = None,
                        caps: CallCaps = CallCaps(), temperatures: Sequence[float | None] | None = None) -> ProposalBatch:
        """n whole programs from the starter state (the repeated-sampling baseline). Program r
        of the call is draw `seed + r` of the problem's stream: the same seed and row give the
        same program whatever else the call holds, so a caller that passes `stream + k` gets
        draws k, k+1, ... (the search's fresh programs are then the draws sampling makes).
        `temperatures`: program r's sampling temperature (0: greedy; None: the policy's own)."""
        ...

    def propose_calls(self, problem: Problem, n: int, *, seed: int = 0) -> "ProposedCalls | None":
        """Example calls of the entry function, n answers (inputs for the choice among visible
        solutions, agent.search.selection); None: this policy proposes none."""
        return None
