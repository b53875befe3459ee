"""Siamese Lens command line: the argument parser (cli.parser), the dispatcher (cli.run) and one module per
command. Everything a terminal user sees (prints, progress bars, exit statuses) lives here; the work itself is in
core/, which prints nothing."""
