"""The study behind `agent bench`: coverage vs compute at equal budgets. `study` runs a suite;
`unit` runs one (problem, strategy) to the largest budget; `budgets`, `anytime`, `hidden`,
`passk`, `summary`, `plot` and `humaneval` read the results out."""
