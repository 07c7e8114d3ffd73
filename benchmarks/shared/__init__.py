"""What the benchmark suites share."""

from pathlib import Path

# benchmarks/: RESULTS.md and the git-ignored .work/ live here
ROOT = Path(__file__).resolve().parents[1]
