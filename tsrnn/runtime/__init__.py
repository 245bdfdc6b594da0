"""onnxruntime only (no torch, no onnx): sessions, provider choice, and the inferencer that runs the graph."""
