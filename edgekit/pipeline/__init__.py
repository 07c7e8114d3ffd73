"""The spine of every run: compress, sweep and build-engine drive it.

    options.py       RunOptions: how a run loads, reads data and overrides the profile (the CLI's defaults)
    inputs.py        profile, data, shape, calibration and student resolved from the arguments
    plan.py          the one plan builder (stage chain, checked before any work)
    execute.py       runs a plan into stage dirs (stage.json each)
    verify.py        the reference, parity / accuracy / INT8 coverage, the verdict, the benchmark, the recommendation
    bundle.py        the output dir (temp + rename), deploy/, manifest.json
    verify_bundle.py `edgekit verify`: a bundle against its manifest.json, parity re-run; bench's check
    compress.py      CompressJob: one compress run through the above
    build_engine.py  on the device: a bundle's TensorRT engines built, verified and benchmarked through verify.py
"""
