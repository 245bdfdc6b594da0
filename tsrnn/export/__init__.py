"""ONNX export (train extra) and the metadata contract (runtime, no torch)."""
