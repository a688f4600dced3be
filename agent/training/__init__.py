"""Training data and training: mine a corpus (`corpus`), LintSeq edit sequences (`lintseq`),
solved runs to training data (`export`), finetune a policy (`finetune`), and which problems a
model saw (`provenance`)."""
