"""Qt-free review state and its events (QtCore signals; no QtWidgets, no QtGui)."""
