"""What the reviewer's commands do to the models, through `...View` protocols (no Qt widgets)."""
