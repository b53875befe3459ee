"""The review workstation: widget-free review models (session, layers, similar cases, worklist), their views, and
the one runner thread; gui.jobs.tasks is the only module that imports core."""
