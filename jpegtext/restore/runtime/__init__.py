"""Running trained models: model files, the zoo, the thread-safe Restorer with tiling,
and export to TorchScript/ONNX."""
