"""Training (train extra: torch). `tsrnn.train()` is the entry point."""
