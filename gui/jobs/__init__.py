"""The runner and the task functions it runs: the GUI's only door into core (jobs/tasks.py)."""
