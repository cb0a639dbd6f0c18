"""Where JAX's gradient pass spends its time: XLA's own cost analysis and op counts, and variants timed.

    KERAS_BACKEND=jax python benchmarks/jax_grad.py [--probes 24] [--repeats 5] [--tiny]

On MiniLM (keras-hub, the local checkpoint), one chunk of probes padded as the engine pads it: the
engine's compiled forward and forward+gradient programs (`engine/backends/jax.py`), their FLOPs and
bytes from `compiled.cost_analysis()`, how many dot, transpose, copy and fusion ops the optimized HLO
holds, and the times of variants: `jax.vjp` instead of `value_and_grad`, matmul precision "highest",
the embeddings buffer donated. Prints one JSON line; writes the "JAX gradient pass" section of
RESULTS.md (figures are ratios timed interleaved in this process).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def chunk_arguments(explainer, encodings):
    """The engine's arguments for one chunk: (embeds, state, targets, ids, mask, segment_ids, context)."""
    import numpy as np

    from gradcallback.engine.batching import pad
    from gradcallback.engine.heads import HEADS
    from gradcallback.engine.score import Chunk, score_function

    fn = score_function(explainer.adapter, HEADS["class"], True)
    batch = pad(encodings, explainer._pad_id(), True, explainer.max_length)
    embeds = explainer.adapter.word_embeddings(batch["ids"])
    targets = np.full((len(encodings), 2), -1, np.int32)
    _, args = fn.bind(Chunk.from_numpy(batch))._args(embeds, targets, None)
    return fn.compiled, args


def hlo_counts(compiled) -> dict:
    text = compiled.as_text()
    ops = {name: len(re.findall(rf"= [^ ]+ {name}\(", text)) for name in ("dot", "transpose", "copy", "fusion")}
    ops["convolution"] = len(re.findall(r"= [^ ]+ convolution\(", text))
    return ops


def costs(compiled) -> dict:
    analysis = compiled.cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return {"flops": float(analysis.get("flops", 0.0)), "bytes": float(analysis.get("bytes accessed", 0.0))}


def variants(score, args) -> dict:
    """name -> a function running that program on `args` to completion."""
    import jax

    embeds, *rest = args
    state = score.adapter.state()

    def vjp(e, s, *a):
        out, pullback = jax.vjp(lambda x: score._evaluate(x, s, *a)[0], e)
        return out, pullback(jax.numpy.ones_like(out))[0]

    vjp_jit = jax.jit(vjp)

    def summed(e, s, *a):  # the engine's program, with the weights closed over as constants instead
        values, resolved, predicted, outputs = score._evaluate(e, s, *a)
        return values.sum(), (values, resolved, predicted, outputs)

    closed = jax.jit(lambda e, *a: jax.value_and_grad(summed, has_aux=True)(e, state, *a))
    donated = jax.jit(score._value_and_grad, donate_argnums=0)
    block = jax.block_until_ready
    out = {
        "forward": lambda: block(score._evaluate(embeds, state, *rest)),
        "gradient (engine)": lambda: block(score._value_and_grad(embeds, state, *rest)),
        "gradient via jax.vjp": lambda: block(vjp_jit(embeds, state, *rest)),
        "gradient, weights closed over as constants": lambda: block(closed(embeds, *rest)),
        "gradient, embeds donated": lambda: block(donated(jax.numpy.array(embeds), state, *rest)),
    }

    def highest():
        with jax.default_matmul_precision("highest"):
            return block(score._value_and_grad(embeds, state, *rest))

    out["gradient, matmul precision highest"] = highest
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probes", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="the section's file ('-': print only)")
    args = parser.parse_args()
    import keras
    from step_cost import load, probe_set

    from gradcallback import Explainer

    if keras.backend.backend() != "jax":
        raise SystemExit("Run with KERAS_BACKEND=jax")
    classifier = load(args.tiny)
    probes = probe_set(classifier, args.probes)
    explainer = Explainer(classifier, classifier.preprocessor, jit_compile=True)
    encodings = explainer.encode(probes.inputs, "classification")
    with explainer.adapter.attached():
        score, call = chunk_arguments(explainer, encodings)
        lowered = {"forward": score._evaluate.lower(call[0], score.adapter.state(), *call[1:]).compile(),
                   "gradient": score._value_and_grad.lower(call[0], score.adapter.state(), *call[1:]).compile()}
        report = {name: {**costs(c), **hlo_counts(c)} for name, c in lowered.items()}
        fns = variants(score, call)
        for fn in fns.values():
            fn()  # compile
        times = {k: [] for k in fns}
        for round_ in range(args.repeats):
            names = list(fns)
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:  # no program always first
                fn = fns[name]
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    median = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
    result = {"shape": list(call[0].shape), "programs": report, "seconds": median}
    print("RESULT " + json.dumps(result))
    rows = ["| program | seconds | / forward |", "|---|---:|---:|"]
    rows += [f"| {k} | {v:.3f} | {v / median['forward']:.2f}x |" for k, v in median.items()]
    f, g = report["forward"], report["gradient"]
    rows += ["", "| compiled program | FLOPs | bytes accessed | dot | transpose | copy | fusion |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    rows += [f"| {n} | {c['flops']:.3g} | {c['bytes']:.3g} | {c['dot']} | {c['transpose']} | {c['copy']} | "
             f"{c['fusion']} |" for n, c in report.items()]
    rows.append(f"\ngradient / forward: FLOPs {g['flops'] / f['flops']:.2f}x, bytes {g['bytes'] / f['bytes']:.2f}x, "
                f"time {median['gradient (engine)'] / median['forward']:.2f}x")
    text = (f"## JAX gradient pass\n\n`KERAS_BACKEND=jax python benchmarks/jax_grad.py {' '.join(sys.argv[1:])}`: "
            f"one engine chunk of {args.probes} MiniLM probes, padded to {list(call[0].shape)}, each program run "
            f"{args.repeats} times, interleaved in rotating order; medians.\n\n" + "\n".join(rows) + "\n")
    print(text)
    if args.out != "-":
        from backends import replace_section

        replace_section(Path(args.out), "## JAX gradient pass", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
