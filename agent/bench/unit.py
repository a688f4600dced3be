"""One unit of a bench run: one problem x one strategy, all budgets; runs in any worker.

`run_unit(task, config, factories)` is the function the runner sends to local worker
processes or Ray tasks; it returns the unit's records (one per budget, see RECORD below) and
the hidden outcomes it learnt. Each worker process builds its policy, lint gate and sandbox
once (`pieces_for`) and keeps them for every unit it runs.

    sample       `agent.bench.sampling`: max(n, largest budget) draws, never stopping at a
                 visible pass; budget k = the first k draws (or the prefix reaching a token
                 budget); the records of the largest budget carry every draw (for pass@k and
                 samples.jsonl). The paper's plain protocol: every draw is written to its end.
    sample+stop  the same draws, seeds and budgets, but a draw stops generating once its
                 complete lines hold a syntax error no later line can repair (the search's
                 `stop_doomed`): the early stop's own gain, beside the plain baseline.
    other        `agent.bench.anytime`: one search to the largest token budget, a snapshot
                 at each smaller one.

Hidden tests run only after that, through `agent.bench.hidden.HiddenJudge`: on the returned
program (`hidden_passed`, deployable pass@1) and on every node's program (`oracle`).

RECORD (one JSON object per problem x strategy x budget, a line of results.jsonl):
    problem_id, strategy, budget (label: "5" or "tokens:2000"), budget_kind, budget_value,
    budget_tokens (token limit of a tree search: at samples-equivalent k, the tokens the problem's
    `sample` run spent on its first k draws; null for `sample` at samples-equivalent k, which is
    k draws), unit_tokens (tokens per draw of the problem's `sample` run, when known; for
    `sample+stop` its own run's),
    model, seed, config_hash, contaminated,
    solved (the returned program passes the visible tests), hidden_passed (of the returned program:
    the one chosen by agreement, agent.search.selection, unless selection.by_agreement is off), oracle (some node's
    program passes the hidden tests; null without hidden tests), oracle_visible (some node's program that passes
    every visible test passes the hidden ones too: the most any choice among visible solutions can reach),
    programs (nodes, root included), hidden_passing (how many of them pass), executed (distinct programs run on the
    visible tests, by Program.behaviour_digest, the starter aside), stop_reason,
    compute {lm_calls, samples, prompt_tokens, generated_tokens, tokens, flops, wall_s, doomed_samples,
    doomed_tokens_saved},
    parsed (of compute.samples, how many the format turned into a program), program, visible (report of the returned program),
    selection (agent.search.selection.Choice.to_dict(): the groups, why, executions and sandbox_s it cost;
    plus baseline_hidden_passed: the strategy's own pick, i.e. deployable pass@1 without the choice),
    largest budget only: lint_rejected, parse_failure_kinds; for `sample` (and `sample+stop`): draws [{status,
    program (null: nothing parsed), lint_ok, visible (fraction or null), hidden_passed (an
    unparsed draw is judged as the unchanged starter), tokens, generated_tokens}].
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from agent.bench.budgets import BudgetPlan
from agent.bench.hidden import HiddenJudge
from agent.output.report import report_dict
from agent.search.selection import BehaviourCache, agreement_votes, choose
from envs.problem import Problem
from envs.program import Program

if TYPE_CHECKING:
    from agent.bench.sampling import Draw
    from agent.config import Config
    from agent.wiring import PolicyFactory, SandboxFactory
    from envs.testcase import TestReport

# 2: a tree search's samples-equivalent budget is what sampling spent there (1: k x tokens per draw)
RECORD_SCHEMA = 2
SAMPLE = "sample"  # repeated sampling, the paper's plain protocol: the baseline of every comparison
SAMPLE_STOP = "sample+stop"  # the same, stopping doomed draws early (not a strategy of agent.search)
SAMPLING = {SAMPLE: False, SAMPLE_STOP: True}  # bench strategies that draw samples -> stop doomed draws


@dataclass(frozen=True)
class Factories:
    """What builds the pieces (None: `agent.wiring`). Module-level functions, so they pickle
    into worker processes; tests pass scripted policies and in-process sandboxes here."""

    policy: PolicyFactory | None = None
    sandbox: SandboxFactory | None = None
    lint: Callable[[Any], Any] | None = None


@dataclass(frozen=True)
class UnitTask:
    problem: Problem
    strategy: str
    plan: BudgetPlan
    n: int  # draws for pass@k (strategy sample)
    unit_tokens: float | None = None  # tokens per draw of the problem's sample run (recorded)
    sample_tokens: dict[str, int] | None = None  # budget label -> tokens the sample run spent (tree limits)
    known_hidden: dict[str, bool] = field(default_factory=dict)  # digest -> passed, from earlier units
    contaminated: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return self.problem.id, self.strategy


@dataclass(frozen=True)
class UnitResult:
    problem_id: str
    strategy: str
    records: list[dict]
    hidden: dict[str, bool]
    unit_tokens: float | None  # measured here when the strategy is `sample`
    tree_html: str | None = None  # the search tree picture (agent.output.picture); None for `sample`


# -- the pieces, once per process ---------------------------------------------------------------
@dataclass
class Pieces:
    policy: Any
    lint: Any
    sandbox: Any


_PIECES: dict[tuple, Pieces] = {}


def pieces_for(config: Config, factories: Factories) -> Pieces:
    """This process's policy, lint gate and sandbox for `config`, built on first use."""
    from agent import wiring

    key = (config.digest(), factories)
    if key not in _PIECES:
        close_pieces()  # one set per process: a different config replaces it
        sandbox = (factories.sandbox or wiring.build_sandbox)(config.sandbox)
        try:
            lint = (factories.lint or wiring.build_lint)(config.lint)
            policy = (factories.policy or wiring.build_policy)(config.policy)
        except BaseException:
            sandbox.close()
            raise
        _PIECES[key] = Pieces(policy, lint, sandbox)
    return _PIECES[key]


def close_pieces() -> None:
    while _PIECES:
        _PIECES.popitem()[1].sandbox.close()


# -- one unit ---------------------------------------------------------------------------------
def run_unit(task: UnitTask, config: Config, factories: Factories) -> UnitResult:
    """Run one problem x strategy at every budget of the plan; see the module docstring."""
    from agent import wiring

    pieces = pieces_for(config, factories)
    context = _Context(task, config, pieces.policy.name,
                       wiring.visible_evaluator(task.problem, pieces.sandbox), pieces)
    if task.strategy in SAMPLING:
        records, unit_tokens = _sample_unit(context, stop_doomed=SAMPLING[task.strategy])
    else:
        records, unit_tokens = _search_unit(context), task.unit_tokens
    return UnitResult(task.problem.id, task.strategy, records, context.judge.outcomes, unit_tokens, context.tree_html)


@dataclass
class _Context:
    task: UnitTask
    config: Config
    model: str
    evaluate: Callable[[Program], TestReport]  # VISIBLE tests only
    pieces: Pieces
    tree_html: str | None = None  # set by _search_unit

    def __post_init__(self) -> None:
        # Built now, used only by _finish after the search or sampling run has returned.
        self.judge = HiddenJudge(self.task.problem, self.pieces.sandbox, self.task.known_hidden)
        self.behaviours = BehaviourCache()  # outputs on the extra inputs, shared by this unit's budgets


def _sample_unit(ctx: _Context, *, stop_doomed: bool) -> tuple[list[dict], float]:
    from agent.bench.sampling import draw_samples, prefix_compute, prefix_length, prefix_tree

    plan, search_config = ctx.task.plan, ctx.config.search
    by_draws = plan.kind == "samples"
    run = draw_samples(
        ctx.task.problem.without_hidden_tests(), ctx.pieces.policy, lint=ctx.pieces.lint, evaluate=ctx.evaluate,
        batch_size=search_config.sample.batch_size, seed=search_config.seed,
        min_draws=max(ctx.task.n, plan.largest.value if by_draws else 1),
        min_tokens=0 if by_draws else plan.largest.value, stop_doomed=stop_doomed,
    )
    unit = run.tokens_per_draw
    records = []
    for point in plan.points:
        k = prefix_length(run, draws=point.value) if by_draws else prefix_length(run, tokens=point.value)
        tree = prefix_tree(run, k)
        draws = run.draws[:k]
        records.append(_finish(
            ctx, point.label, None if by_draws else point.value, unit, tree=tree, compute=prefix_compute(run, k),
            parsed=sum(d.parsed for d in draws), stop_reason="budget"))
    spent = run.draws[:records[-1]["compute"]["samples"]]  # the largest budget's draws
    records[-1].update(
        lint_rejected=sum(d.parsed and not d.lint_ok for d in spent),
        parse_failure_kinds=dict(sorted(Counter(d.status for d in spent if not d.parsed).items())),
        draws=[_draw_record(ctx, run.root, d) for d in run.draws],  # all of them: pass@k uses every draw
    )
    return records, unit


def _draw_record(ctx: _Context, starter: Program, draw: Draw) -> dict:
    program = draw.program if draw.parsed else None
    return {"status": draw.status, "program": None if program is None else program.text, "lint_ok": draw.lint_ok,
            "visible": None if draw.visible is None else draw.visible.fraction,
            "hidden_passed": ctx.judge.passed(program or starter),
            "tokens": draw.tokens, "generated_tokens": draw.generated_tokens}


def _search_unit(ctx: _Context) -> list[dict]:
    from agent import wiring
    from agent.bench.anytime import anytime_search
    from agent.output.picture import render_html

    search_config = dataclasses.replace(ctx.config.search, strategy=ctx.task.strategy)
    if ctx.config.bench.spend_budget:  # every strategy compared at the same tokens (BenchConfig)
        search_config = dataclasses.replace(search_config, stop_when_solved=False)
    limits = ctx.task.plan.token_limits(ctx.task.sample_tokens)
    # anytime: one search read off at every budget; else one search per budget (bench.anytime)
    runs = [limits] if ctx.config.bench.anytime else [{label: limit} for label, limit in limits.items()]
    # the votes of an early stop (search.stop_votes), when searches may stop (bench.spend_budget false)
    votes = agreement_votes(ctx.task.problem.without_hidden_tests(), ctx.pieces.sandbox, ctx.config.selection,
                            ctx.behaviours)
    records = []
    for run_limits in runs:
        result, snapshots = anytime_search(
            ctx.task.problem, ctx.pieces.policy, lint=ctx.pieces.lint, evaluate=ctx.evaluate,
            strategy=wiring.build_strategy(search_config), settings=wiring.build_settings(search_config),
            limits=run_limits, votes=votes)
        for label, limit in run_limits.items():
            snap = snapshots[label]
            records.append(_finish(ctx, label, limit, ctx.task.unit_tokens, tree=result.tree, best=snap.best,
                                   nodes=snap.nodes, compute=snap.compute, parsed=snap.parsed,
                                   stop_reason=snap.stop_reason))
    ctx.tree_html = render_html(result.tree, chosen=snapshots[list(limits)[-1]].best,
                                title=f"{ctx.task.problem.id}: {ctx.task.strategy} search")
    records[-1]["lint_rejected"] = result.counters.lint_rejected
    records[-1]["parse_failure_kinds"] = result.counters.parse_failure_kinds
    records[-1]["arms"] = result.counters.arms  # compute at the root (fresh) vs below it (refinements)
    return records


def _finish(ctx: _Context, label: str, budget_tokens: int | None, unit_tokens: float | None, *, tree,
            compute: dict, parsed: int, stop_reason: str, best: str | None = None,
            nodes: Sequence[str] | None = None) -> dict:
    """The record of one budget: the returned node and the nodes so far are judged on the
    HIDDEN tests here, after the search (see agent.bench.hidden)."""
    baseline = tree.node(best) if best is not None else tree.best()
    members = [tree.node(d) for d in (nodes if nodes is not None else [n.digest for n in tree.nodes()])]
    # The returned program among this budget's visible solutions (visible inputs only; before any hidden run).
    choice = choose(members, ctx.task.problem, ctx.pieces.sandbox, ctx.config.selection,
                    cache=ctx.behaviours, baseline=baseline.digest,
                    propose_calls=ctx.pieces.policy.propose_calls)
    returned = tree.node(choice.chosen)
    programs = [n.program for n in members]
    hidden = ctx.judge.passed(returned.program)
    passing = [ctx.judge.passed(p) for p in programs]
    # The ceiling of any choice that trusts the visible tests: some VISIBLE solution passes the hidden
    # tests. Oracle minus this is out of every choice's reach (e.g. a docstring example the hidden tests contradict).
    # Without visible tests every program the policy wrote passes them all (vacuously): the choice
    # picks among those (the starter loses every tie, agent.search.tree.rank_key).
    vacuous = not ctx.task.problem.tests
    visible_passing = [p for n, p in zip(members, passing) if n.solved or (vacuous and n.digest != tree.root)]
    point = next(p for p in ctx.task.plan.points if p.label == label)
    return {
        "schema": RECORD_SCHEMA, "problem_id": ctx.task.problem.id, "strategy": ctx.task.strategy,
        "budget": label, "budget_kind": ctx.task.plan.kind, "budget_value": point.value,
        "budget_tokens": budget_tokens, "unit_tokens": unit_tokens,
        "model": ctx.model, "seed": ctx.config.search.seed, "config_hash": ctx.config.digest(),
        "contaminated": ctx.task.contaminated,
        "solved": returned.solved, "hidden_passed": hidden, "oracle": None if hidden is None else any(passing),
        "oracle_visible": None if hidden is None else any(visible_passing),
        "programs": len(programs), "hidden_passing": sum(bool(p) for p in passing), "stop_reason": stop_reason,
        "executed": len({p.behaviour_digest for p in programs} - {tree.node(tree.root).program.behaviour_digest}),
        "compute": compute, "parsed": parsed,
        "program": returned.program.text, "visible": report_dict(returned.report),
        "selection": {**choice.to_dict(), "baseline_hidden_passed": ctx.judge.passed(baseline.program)},
    }
