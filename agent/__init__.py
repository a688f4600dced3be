"""The agent: the search (`search`), the study (`bench`), training data and finetuning
(`training`), what runs leave behind (`output`) and the command line (`cli`); `config` holds
the typed configuration and `wiring` builds the concrete pieces from it. docs/architecture.md
follows one expansion through all of it."""
