"""Local sentence embedder: all-MiniLM-L6-v2 run with ONNX Runtime, no network and no torch."""
