"""What a run leaves behind and shows: atomic file writes (`files`), result records and the run
folder (`report`), pictures of the search tree (`picture`), a bench run's browsable page
(`html_report`), the terminal progress display (`progress`), where log records and library
noise go (`logs`), and the code's version and commit (`versions`)."""
