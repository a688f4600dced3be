"""What a run leaves behind: atomic file writes (`files`), result records and the run folder
(`report`), pictures of the search tree (`picture`), and the terminal progress display."""
