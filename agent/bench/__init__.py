"""The study behind `agent bench`: coverage vs compute at equal budgets. `runner` schedules a
suite's units and `executors` run them (in this process, worker processes or Ray); `unit` runs
one (problem, strategy) to the largest budget, `sampling` draws the repeated-sampling baseline
and `anytime` reads a tree search off at every smaller budget; `budgets`, `hidden`, `passk`,
`summary`, `paired`, `choice_summary`, `plot` and `humaneval` read the results out; `results`
and `reuse` resume and reuse earlier records, `pool` and `seeds` put runs together,
`problem_ids` parses id ranges and `progress` shows a run on the terminal."""
