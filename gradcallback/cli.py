"""Command line: `gradcallback coverage --tokenizer PATH texts.txt [--terms terms.txt] [--json]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence


def _lines(path: str) -> list[str]:
    return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def _load_tokenizer(path: str):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local directory, never a download
    from transformers import AutoTokenizer

    if not Path(path).is_dir():
        raise SystemExit(f"error: --tokenizer expects a local tokenizer directory. Received: {path}")
    return AutoTokenizer.from_pretrained(path)


def coverage_command(args: argparse.Namespace) -> int:
    from .vocabulary import coverage

    report = coverage(_load_tokenizer(args.tokenizer), _lines(args.texts),
                      terms=_lines(args.terms) if args.terms else None, min_pieces=args.min_pieces)
    print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if args.json else report.as_markdown())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradcallback", description="Gradient explanations for text models.")
    commands = parser.add_subparsers(dest="command", required=True)
    cov = commands.add_parser("coverage", help="how a tokenizer covers the words of a text file")
    cov.add_argument("texts", help="text file, one text per line")
    cov.add_argument("--tokenizer", required=True, help="local Hugging Face tokenizer directory")
    cov.add_argument("--terms", help="file of domain words (names, codes) always reported, one per line")
    cov.add_argument("--min-pieces", type=int, default=3, help="pieces from which a word counts as fragmented")
    cov.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    cov.set_defaults(run=coverage_command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
