"""Streaming detection (the engine behind `tsrnn watch`): sources, resuming, state, the loop,
results. Never imports torch."""
