"""The search: one select -> expand -> evaluate -> backup loop (`loop`), strategies plugged into it
(`strategies`), the tree over lint-clean programs (`tree`), budgets and compute accounting
(`budget`), rollout records (`rollouts`), and solving one problem end to end (`solve`)."""
