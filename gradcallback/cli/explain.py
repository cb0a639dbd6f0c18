"""`gradcallback explain`: one text's attributions from the shell, from a local checkpoint folder.

    gradcallback explain --model DIR [--task T] [--method M] [--target T] TEXT... [--pairs Q C]
                         [--seed N] [--html out.html] [--png out.png] [--json]

The folder is read and loaded by `checkpoints.py` (keras-hub presets, transformers TF folders;
`--loader keras-hub` reads a Hugging Face folder with keras-hub instead). Mistakes a user can
make (missing folder, unknown task, a model without a task head) are one line with what to
do, exit code 2. A head the folder lacks (`--task` on a bare encoder) starts from `--seed`, so the
same input gives the same numbers every time, and the output says that head is untrained.

One call is made to be quick (`benchmarks/first_contact.py`). A Hugging Face BERT classifier folder
(`model.safetensors`, `tokenizer.json`, e.g. a sentence-transformers MiniLM) runs on keras-hub and JAX
when the user set no KERAS_BACKEND and jax is installed, with the Rust tokenizer and TensorFlow hidden
from the process (`checkpoints.quick_backend`, `tensorflow_hidden`): importing TensorFlow and
transformers' TF BERT alone takes longer than that whole path. Its scores match the transformers TF
path's to about 1e-3 relative (keras-hub's BERT uses the tanh approximation of GELU; tests/test_cli_explain.py).
`--loader transformers` or KERAS_BACKEND=tensorflow choose transformers TF, where TensorFlow runs eagerly
(tracing the model's graph would take longer than the work) and transformers is kept from importing
torch, which a TF model never uses. The output says which loader and backend ran.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any, Sequence

from ..validate import positive_int
from .checkpoints import (
    TASKS,
    CommandError,
    Loaded,
    head_of_folder,
    inspect_folder,
    load_keras_hub,
    load_transformers,
    quick_backend,
    seed_new_heads,
    tensorflow_hidden,
    torch_hidden,
)


def add_parser(commands: Any) -> None:
    """Register `explain` on the CLI's subcommands."""
    cmd = commands.add_parser("explain", help="explain texts with a local checkpoint folder")
    cmd.add_argument("texts", nargs="*", metavar="TEXT", help="texts to explain (classification models)")
    cmd.add_argument("--model", required=True, metavar="DIR", help="local checkpoint folder")
    cmd.add_argument("--task", help=f"one of {', '.join(TASKS)} (default: from the folder's config)")
    cmd.add_argument("--method", default="gradient_norm", help="attribution method (default gradient_norm)")
    cmd.add_argument("--target", help="class index or name; QA: span, start, end or S,E; tokens: POSITION,CLASS; "
                                      "causal LM: the continuation's text, or 'generate' (default: the next token)")
    cmd.add_argument("--steps", type=int, help="integrated gradients' steps (default 32)")
    cmd.add_argument("--pairs", nargs=2, action="append", metavar=("QUESTION", "CONTEXT"),
                     help="a question-answering input; repeat for more")
    cmd.add_argument("--loader", default="auto", help="auto, transformers or keras-hub")
    cmd.add_argument("--seed", type=int, default=0, help="seed of a new (untrained) task head (default 0)")
    cmd.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    cmd.add_argument("--png", metavar="FILE", help="also write the heatmaps as one PNG image")
    cmd.add_argument("--json", action="store_true", help="print JSON instead of coloured text")
    cmd.add_argument("--top", type=int, default=5, help="top tokens listed per text")
    cmd.add_argument("--color", default="auto", choices=("auto", "always", "never"),
                     help="ANSI colours: auto (only on a terminal), always, never")
    cmd.set_defaults(run=explain_command)


def explain_command(args: argparse.Namespace) -> int:
    """`gradcallback explain`: explains the texts (or --pairs) with a local checkpoint and prints or writes them.

    Returns 2 on a user's mistake or a loader's error (one line; `--verbose` raises instead), else 0.
    """
    try:
        attributions, loaded = _explain(args)
        _output(attributions, loaded, args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (ValueError, OSError, ImportError) as error:  # from our checks or the frameworks' loaders
        if getattr(args, "verbose", False):
            raise
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        print(f"error: {first} (--verbose shows the traceback)", file=sys.stderr)
        return 2
    return 0


def _explain(args: argparse.Namespace) -> tuple[list, Loaded]:
    folder = Path(args.model)
    positive_int("--top", args.top)
    if args.steps is not None:  # `--steps 0` is a mistake to report, not a request for the default
        positive_int("--steps", args.steps)
    inputs = _inputs(args.texts, args.pairs)
    loader, task = inspect_folder(folder, args.task, args.loader)
    new_head = head_of_folder(folder, loader) != task
    if (task == "question_answering") != isinstance(inputs[0], tuple):
        want = "--pairs QUESTION CONTEXT" if task == "question_answering" else "TEXT arguments, not --pairs"
        raise CommandError(f"a {task} model takes {want}")
    from .. import METHODS, explain

    if args.method not in METHODS:
        raise CommandError(f"unknown --method {args.method!r}: use one of {', '.join(METHODS)}")
    quick = quick_backend(folder, task) if loader == "keras-hub" else None  # JAX, TensorFlow never imported
    # torch until transformers is imported (a TF model needs none); TensorFlow while the quick path runs
    with torch_hidden(loader == "transformers"), tensorflow_hidden(quick):
        seed_new_heads(args.seed, loader)
        loaded = (load_keras_hub(folder, task, args.seed) if loader == "keras-hub"
                  else load_transformers(folder, task, args.seed))
        loaded.new_head_seed = args.seed if new_head else None
        options = {"steps": args.steps} if args.steps is not None else {}
        target = args.target if task == "causal_lm" else parse_target(args.target, loaded.label_names)
        return explain(loaded.model, loaded.tokenizer, inputs, task=task, method=args.method, target=target,
                       eager=True, **loaded.options, **options), loaded


def _inputs(texts: Sequence[str], pairs: Sequence[Sequence[str]] | None) -> list:
    if texts and pairs:
        raise CommandError("give either TEXT arguments (classification) or --pairs QUESTION CONTEXT (QA), not both")
    if not texts and not pairs:
        raise CommandError("give at least one TEXT to explain (or --pairs QUESTION CONTEXT for QA)")
    return [tuple(p) for p in pairs] if pairs else list(texts)


def parse_target(value: str | None, label_names: Sequence[str] | None) -> Any:
    """`--target` as `explain()` takes it: an int, a label name's index, "span"/"start"/"end", or a pair."""
    if value is None or value in ("span", "start", "end"):
        return value
    if re.fullmatch(r"\d+", value):
        return int(value)
    if re.fullmatch(r"\d+,\d+", value):
        return tuple(int(v) for v in value.split(","))
    if label_names and value in label_names:
        return list(label_names).index(value)
    names = f" or a name ({', '.join(label_names)})" if label_names else ""
    raise CommandError(f"--target {value!r}: give a class index{names}; QA: span, start, end or START,END; "
                       "token classification: POSITION,CLASS")


def untrained_note(loaded: Loaded) -> str | None:
    """The line that says the task head is new and untrained (None when the folder held it)."""
    if loaded.new_head_seed is None:
        return None
    return (f"Untrained head: the folder has no {loaded.task} head, so a new one was initialized "
            f"(--seed {loaded.new_head_seed}); its predictions are not a trained model's.")


def loaded_line(loaded: Loaded) -> str:
    """The closing line that says what loaded the model and which backend computed the gradients."""
    return f"(loaded by {loaded.loader}, gradients on {loaded.backend})"


def _output(attributions: list, loaded: Loaded, args: argparse.Namespace) -> None:
    from ..views.terminal import render_all, use_color

    label_names, note = loaded.label_names, untrained_note(loaded)
    if args.json:
        run = {"untrained_head": note is not None, "seed": loaded.new_head_seed, "loader": loaded.loader,
               "backend": loaded.backend}
        records = [as_json(a, label_names, args.top) | run for a in attributions]
        print(json.dumps(records, ensure_ascii=False, indent=2, default=_jsonable))
    else:
        text = render_all(attributions, color=use_color(sys.stdout, args.color), label_names=label_names,
                          top=args.top)
        print("\n\n".join(filter(None, [note, text, loaded_line(loaded)])))
    if args.html:
        from ..views.notebook import attributions_html, page

        Path(args.html).write_text(page(attributions_html(attributions, label_names=label_names),
                                        "gradcallback explain"), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    if args.png:
        write_png(attributions, args.png, label_names)
        print(f"wrote {args.png}", file=sys.stderr)


def as_json(a: Any, label_names: Sequence[str] | None, top: int = 5) -> dict[str, Any]:
    """One attribution as a JSON-ready dict."""
    prediction = a.prediction.as_dict()
    if label_names and "label" in prediction and 0 <= prediction["label"] < len(label_names):
        prediction["label_name"] = label_names[prediction["label"]]
    return {"text": list(a.text) if isinstance(a.text, tuple) else a.text, "task": a.task, "method": a.method,
            "target": list(a.target) if isinstance(a.target, tuple) else a.target, "prediction": prediction,
            "tokens": list(a.tokens), "scores": [float(s) for s in a.scores],
            "special": [bool(s) for s in a.special_mask] if a.special_mask is not None else None,
            "top_tokens": [{"position": i, "token": t, "score": s} for i, t, s in a.top_k(top)],
            "convergence_delta": a.convergence_delta, "info": dict(a.info)}


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist") and getattr(value, "ndim", 0):
        return value.tolist()  # a causal LM's per-token matrix
    return value.item() if hasattr(value, "item") else str(value)  # numpy scalars; anything else as text


def write_png(attributions: Sequence[Any], path: str, label_names: Sequence[str] | None) -> None:
    """The heatmaps of every text, stacked in one image."""
    import numpy as np
    from PIL import Image

    from ..engine.registry import is_signed
    from ..views.images import heatmap

    images = [heatmap(a, signed=is_signed(a.method, a.info), label_names=label_names) for a in attributions]
    canvas = np.full((sum(i.shape[0] for i in images), max(i.shape[1] for i in images), 3), 255, np.uint8)
    y = 0
    for image in images:
        canvas[y: y + image.shape[0], : image.shape[1]] = image
        y += image.shape[0]
    Image.fromarray(canvas).save(path, format="PNG")
