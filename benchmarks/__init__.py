"""edgekit's benchmark suites: edgekit against the same libraries used by hand, ratios within one run, the host named.

    python -m benchmarks SUITE [options]      # python -m benchmarks --help lists the suites

One folder per suite (its entry point is SUITE/run.py: main(argv)), and shared/ for what they share
(models, calibration photos, the fresh-process timing worker, interleaved rounds, RESULTS.md blocks).
"""
