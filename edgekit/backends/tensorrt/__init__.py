"""TensorRT in one package: the backend (backend.py), TensorRT's explicit-quantization rules (rules.py)
and the Jetson bundle (jetson_bundle.py). The engine builder and runner that ship in a bundle live in
edgekit/deploy/ (trt_build.py, run_tensorrt.py, cuda_runtime.py): they run on the device without edgekit."""
