"""The `gradcallback` command: `demo`, `report`, `coverage`, `explain` and `tensorboard`, and its quiet console."""
