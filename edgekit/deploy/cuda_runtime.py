"""The few CUDA runtime calls a TensorRT runner needs, through ctypes (no pycuda, cupy or torch).

Shipped in Jetson/GPU bundles next to run.py: on a Jetson the library is JetPack's
/usr/local/cuda/lib64/libcudart.so; on a pip-installed TensorRT it is the nvidia-cuda-runtime
wheel's copy under site-packages/nvidia/*/lib. Needs only the standard library.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

# cudaDeviceAttr values (stable across CUDA 10-13)
ATTR_CC_MAJOR, ATTR_CC_MINOR, ATTR_INTEGRATED = 75, 76, 18
H2D, D2H = 1, 2  # cudaMemcpyKind
NAMES = ("libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "cudart64_13.dll",
         "cudart64_12.dll", "cudart64_110.dll")


class CudaError(RuntimeError):
    pass


def _candidates():
    for site in sys.path:
        for pattern in ("nvidia/cuda_runtime/lib/libcudart.so*", "nvidia/cu*/lib/libcudart.so*"):
            yield from sorted(glob.glob(os.path.join(site, pattern)), reverse=True)
    for root in (os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"):
        if root:
            yield from sorted(glob.glob(os.path.join(root, "lib64", "libcudart.so*")), reverse=True)
    yield from NAMES


def load_cudart():
    errors = []
    for name in _candidates():
        try:
            return ctypes.CDLL(name)
        except OSError as exc:
            errors.append(str(exc))
    raise CudaError("cannot load the CUDA runtime (libcudart): " + (errors[-1] if errors else "not found") +
                    ". On a Jetson it comes with JetPack (/usr/local/cuda/lib64); elsewhere "
                    "pip install nvidia-cuda-runtime-cu12 (TensorRT's pip wheels bring it).")


class CudaRuntime:
    """Device memory, a stream and copies; every call is checked and raises CudaError with CUDA's message."""

    def __init__(self, lib=None):
        self.lib = lib if lib is not None else load_cudart()
        self.lib.cudaGetErrorString.restype = ctypes.c_char_p

    def _check(self, code, what):
        if code != 0:
            message = self.lib.cudaGetErrorString(code)
            text = message.decode() if isinstance(message, bytes) else str(message)
            raise CudaError(f"{what} failed: {text} (cudaError {code})")

    def device_count(self):
        count = ctypes.c_int(0)
        self._check(self.lib.cudaGetDeviceCount(ctypes.byref(count)), "cudaGetDeviceCount")
        return count.value

    def attribute(self, attr, device=0):
        value = ctypes.c_int(0)
        self._check(self.lib.cudaDeviceGetAttribute(ctypes.byref(value), attr, device), "cudaDeviceGetAttribute")
        return value.value

    def compute_capability(self, device=0):
        return self.attribute(ATTR_CC_MAJOR, device), self.attribute(ATTR_CC_MINOR, device)

    def device_name(self, device=0):
        props = ctypes.create_string_buffer(4096)  # cudaDeviceProp starts with char name[256]
        self._check(self.lib.cudaGetDeviceProperties(props, device), "cudaGetDeviceProperties")
        return props.raw[:256].split(b"\0", 1)[0].decode(errors="replace")

    def malloc(self, nbytes):
        ptr = ctypes.c_void_p()
        self._check(self.lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(max(int(nbytes), 1))), "cudaMalloc")
        return ptr.value

    def free(self, ptr):
        self._check(self.lib.cudaFree(ctypes.c_void_p(ptr)), "cudaFree")

    def stream_create(self):
        stream = ctypes.c_void_p()
        self._check(self.lib.cudaStreamCreate(ctypes.byref(stream)), "cudaStreamCreate")
        return stream.value or 0

    def stream_destroy(self, stream):
        self._check(self.lib.cudaStreamDestroy(ctypes.c_void_p(stream)), "cudaStreamDestroy")

    def synchronize(self, stream):
        self._check(self.lib.cudaStreamSynchronize(ctypes.c_void_p(stream)), "cudaStreamSynchronize")

    def htod(self, dst, array, stream):
        """Copy a C-contiguous numpy array to device memory ``dst`` (asynchronous on ``stream``)."""
        self._check(self.lib.cudaMemcpyAsync(ctypes.c_void_p(dst), ctypes.c_void_p(array.ctypes.data),
                                             ctypes.c_size_t(array.nbytes), H2D, ctypes.c_void_p(stream)),
                    "cudaMemcpyAsync (host to device)")

    def dtoh(self, array, src, stream):
        """Copy device memory ``src`` into a C-contiguous numpy array (asynchronous on ``stream``)."""
        self._check(self.lib.cudaMemcpyAsync(ctypes.c_void_p(array.ctypes.data), ctypes.c_void_p(src),
                                             ctypes.c_size_t(array.nbytes), D2H, ctypes.c_void_p(stream)),
                    "cudaMemcpyAsync (device to host)")
