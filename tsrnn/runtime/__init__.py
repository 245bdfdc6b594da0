"""onnxruntime sessions and provider choice: no torch, no onnx."""
