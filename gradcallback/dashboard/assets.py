"""The viewer's shipped front-end files (package data), served by the plugin and inlined by the report."""

from __future__ import annotations

import re
from importlib import resources

# ES modules in dependency order: the HTML report inlines them in this order as one module.
MODULES = ("decode.js", "model.js", "view.js", "viewer.js")
STATIC = {**{name: "text/javascript" for name in ("index.js", *MODULES)}, "viewer.css": "text/css"}

_IMPORT = re.compile(r"^import\s[^;]*;\n", re.M)  # our imports: one statement, maybe over several lines
_EXPORT = re.compile(r"^export (?=(async )?(function|const|let|class) )", re.M)


def static_text(name: str) -> str:
    """The text of one of the viewer's shipped files (a key of `STATIC`)."""
    if name not in STATIC:
        raise ValueError(f"Expected one of the viewer's files {sorted(STATIC)}. Received: {name!r}")
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def bundle() -> str:
    """The viewer's modules as the body of one inline `<script type="module">`: inline modules cannot
    import each other (and a page opened from disk cannot fetch them), so imports are dropped and
    the modules share one scope. Checked: no text in it can close the script element."""
    code = "\n".join(_EXPORT.sub("", _IMPORT.sub("", static_text(name))) for name in MODULES)
    if re.search(r"</script|<!--", code, re.I) or re.search(r"^\s*(import|export)\s", code, re.M):
        raise ValueError("The viewer's modules cannot be inlined: a `</script`, `<!--`, or an import/export "
                         "statement the bundler does not handle")
    return code
