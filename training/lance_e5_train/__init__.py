"""lance-e5 training: synthetic data -> LoRA/InfoNCE -> merged model -> ONNX model directory."""
