"""The review workstation, in packages by role: models/ (Qt-free review state and its events), presenters/ (the
reviewer's commands over `...View` protocols), views/ (widgets), jobs/ (the runner thread and the task functions:
gui.jobs.tasks is the only module that imports core); gui.app composes them."""
