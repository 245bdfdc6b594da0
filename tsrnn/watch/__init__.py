"""Streaming detection with onnxruntime: sources, state, the engine. Never imports torch."""
