"""onnxruntime only (no torch, no onnx): sessions, provider choice, and the inferencer that runs the graph.

This file itself imports nothing, so the command line can name its constants without loading onnxruntime."""

BACKLOG_ROWS = 4096  # rows per onnxruntime call when a stateful model backfills (watch, bench, int8 calibration)
