"""Streaming detection (the engine behind `tsrnn watch`): sources, state, runners. Never imports torch."""
