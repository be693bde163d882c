"""Runtimes: backends that load encoder weights and run them (ONNX Runtime, PyTorch/transformers)."""
