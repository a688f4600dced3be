"""Training data and training: mine a corpus (`corpus`), LintSeq edit sequences (`lintseq`),
programs framed as tasks (`framing`), solved runs to training data (`export`), finetune a policy
(`finetune`, with its loss masking in `losses`), which problems a model saw (`provenance`), and
one loop of expert iteration (`iterate`, compared in `comparison`)."""
