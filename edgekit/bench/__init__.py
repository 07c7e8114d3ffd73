"""Benchmark harness: latency/throughput/memory of compiled artifacts."""
