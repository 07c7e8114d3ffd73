"""Hardware efficiency: GOP/s and share of the host's peak, OpenVINO per-layer counters."""
