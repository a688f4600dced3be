"""The search: what flows through it (`types`), one select -> expand -> evaluate -> backup loop
(`loop`), what a node asks the policy (`requests`), strategies plugged into the loop
(`strategies`), the tree over lint-clean programs (`tree`), budgets and compute accounting
(`budget`), the choice among visible solutions (`selection`) and rollout records (`rollouts`).
Solving one problem end to end is `agent.cli.solve`."""
