"""Command line.

    gradcallback demo [--logdir runs/demo] [--epochs 3] [--model PATH] [--probes N] [--control]
    gradcallback report LOGDIR [--html out.html] [--json]
    gradcallback coverage --tokenizer PATH texts.txt [--terms terms.txt] [--json]
    gradcallback explain --model DIR [--task T] [--method M] [--target T] TEXT... [--pairs Q C]
                         [--seed N] [--html out.html] [--png out.png] [--json]
    gradcallback tensorboard --logdir DIR [--port N] [--host H] [more TensorBoard flags]

Every command runs in `quiet_console()` (entered before anything imports TensorFlow or JAX), so
the console shows our lines and Keras' progress bar; `--verbose` shows the frameworks' logging.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from . import explain as explain_command
from .quiet import quiet_console


def _lines(path: str) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _load_tokenizer(path: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local directory, never a download
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise SystemExit(f"error: --tokenizer expects a local tokenizer directory. Received: {path}")
    return AutoTokenizer.from_pretrained(path)


def coverage_command(args: argparse.Namespace) -> int:
    """`gradcallback coverage`: prints how a local tokenizer covers the words of a text file (plain text within
    the terminal's width, or JSON)."""
    from ..analysis.coverage import coverage
    from ..views.plain import terminal_width

    report = coverage(_load_tokenizer(args.tokenizer), _lines(args.texts),
                      terms=_lines(args.terms) if args.terms else None, min_pieces=args.min_pieces)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.json else report.as_text(terminal_width()))
    return 0


def demo_command(args: argparse.Namespace) -> int:
    """`gradcallback demo`: fine-tunes with the callback watching, then prints whether it caught the shortcut.

    Returns 2 when something the demo needs is missing (`DemoSetupError`), else 0 whatever the verdict.
    """
    # The first line before any import that takes time: the model's load takes a while, and says so next.
    print(f"gradcallback demo: fine-tuning {args.model or 'all-MiniLM-L6-v2'} on sentences with a planted "
          f"shortcut, watched by the callback (run under {args.logdir}/).", flush=True)
    from ..views.plain import terminal_width, wrap
    from .demo import DemoSetupError, run_demo, verdict

    try:
        run = run_demo(args.logdir, args.epochs, args.model, args.probes, steps_per_epoch=args.steps_per_epoch,
                       control=args.control)
    except DemoSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    caught, lines = verdict(run)
    if args.control:  # names in both classes: there is nothing to catch
        print("\nVerdict (control run): " + ("an alert on the control, a false alarm." if caught else
                                             "no alert, as there is no shortcut to catch."))
    else:
        print("\nVerdict: " + ("the callback caught the names shortcut." if caught else "no shortcut was caught."))
    print("\n".join(text for line in lines for text in wrap(f"  - {line}", terminal_width(), "    ")))
    print(f"\nSee it in TensorBoard (the Attributions tab):\n    gradcallback tensorboard --logdir {args.logdir}")
    print(f"or without it:\n    gradcallback report {args.logdir} --html report.html")
    return 0


def report_command(args: argparse.Namespace) -> int:
    """`gradcallback report`: a per-step summary of each run under `args.logdir`, as text or JSON, optionally HTML.

    Returns 2 when there is no run to report.
    """
    from ..io.runs import find_runs, read_run
    from .html_report import as_html
    from .report import as_text, summarize

    try:
        folders = find_runs(args.logdir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not folders:
        print(f"error: no records.jsonl under {args.logdir}: is it an AttributionCallback log_dir?", file=sys.stderr)
        return 2
    if args.run_name:
        folders = [f for f in folders if f.name == args.run_name or str(f) == args.run_name]
        if not folders:
            print(f"error: no run named {args.run_name} under {args.logdir}", file=sys.stderr)
            return 2
    elif len(folders) > 1 and not args.json:
        print(f"{len(folders)} runs: " + ", ".join(str(f.relative_to(args.logdir)) for f in folders)
              + " (each reported on its own; --run NAME for one)\n")
    runs = [read_run(folder, images=bool(args.html)) for folder in folders]
    summaries = [summarize(run) for run in runs]
    if args.json:
        print(json.dumps(summaries, ensure_ascii=False, indent=2))
    else:
        print("\n\n".join(as_text(s) for s in summaries))
    if args.html:
        Path(args.html).write_text("".join(as_html(r, s) for r, s in zip(runs, summaries)), encoding="utf-8")
        print(f"wrote {args.html}", file=sys.stderr)
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line with what to do, instead of the usage block
        self.exit(2, f"error: {message} (see: {self.prog} --help)\n")


def tensorboard_command(args: argparse.Namespace) -> int:
    """`gradcallback tensorboard`: TensorBoard with the Attributions dashboard; unknown flags go to TensorBoard."""
    from ..dashboard.launcher import run

    return run(args.logdir, args.port, args.host, args.tensorboard_flags)


def build_parser() -> argparse.ArgumentParser:
    """The `gradcallback` argument parser, every subcommand's `run` set to its function."""
    parser = _Parser(prog="gradcallback", description="Gradient explanations for text models.")
    parser.add_argument("--verbose", action="store_true", help="show the frameworks' logging and warnings")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fine-tune MiniLM on a dataset with a planted shortcut, watched")
    demo.add_argument("--logdir", default="runs/demo", help="where the run is written")
    demo.add_argument("--epochs", type=int, default=3)
    demo.add_argument("--model", help="a local HF BERT-family checkpoint instead of MiniLM")
    demo.add_argument("--probes", type=int, default=24, help="number of probes explained every epoch")
    demo.add_argument("--control", action="store_true",
                      help="the control fine-tune: names in both classes alike, nothing to catch")
    demo.add_argument("--steps-per-epoch", type=int, help=argparse.SUPPRESS)  # smoke tests
    demo.set_defaults(run=demo_command)
    report = commands.add_parser("report", help="per-step summary of a run, without TensorBoard")
    report.add_argument("logdir", help="the log_dir given to AttributionCallback")
    report.add_argument("--html", help="also write one self-contained HTML file (images inline)")
    report.add_argument("--json", action="store_true", help="print JSON instead of a table")
    report.add_argument("--run", dest="run_name", help="report only this run (a folder name, e.g. attributions_2)")
    report.set_defaults(run=report_command)
    cov = commands.add_parser("coverage", help="how a tokenizer covers the words of a text file")
    cov.add_argument("texts", help="text file, one text per line")
    cov.add_argument("--tokenizer", required=True, help="local Hugging Face tokenizer directory")
    cov.add_argument("--terms", help="file of domain words (names, codes) always reported, one per line")
    cov.add_argument("--min-pieces", type=int, default=3, help="pieces from which a word counts as fragmented")
    cov.add_argument("--json", action="store_true", help="print JSON instead of text")
    cov.set_defaults(run=coverage_command)
    board = commands.add_parser("tensorboard", help="TensorBoard with the Attributions dashboard, every step kept",
                                epilog="Other arguments go to TensorBoard as they are, e.g. --load_fast=false.")
    board.add_argument("--logdir", required=True, help="the log_dir given to AttributionCallback")
    board.add_argument("--port", type=int, help="port to serve on (TensorBoard's default: 6006)")
    board.add_argument("--host", help="address to serve on (TensorBoard's default: localhost)")
    board.set_defaults(run=tensorboard_command)
    explain_command.add_parser(commands)
    for command in commands.choices.values():  # `--verbose` also after the command's name
        command.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the `gradcallback` command on `argv` (default: `sys.argv[1:]`) in the quiet console; the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "tensorboard":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.tensorboard_flags = extra
    with quiet_console(args.verbose):
        return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
