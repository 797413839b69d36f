"""The browser side of the widget, as anywidget wants it: one ES module and one stylesheet.

``js/pull.js`` (pure logic) and ``js/widget.js`` (DOM) are separate so node can test the logic without a
DOM; anywidget loads a single module from a string, so the two are joined here. ``widget.js`` starts with
exactly one ``import ... from "./pull.js";`` line, which joining removes (the names it imports are then
top-level declarations of the same module).
"""

from __future__ import annotations

import pathlib

_HERE = pathlib.Path(__file__).parent
_IMPORT_SUFFIX = 'from "./pull.js";'


def compose(js_dir: pathlib.Path) -> str:
    pull = (js_dir / "pull.js").read_text(encoding="utf-8")
    widget_lines = (js_dir / "widget.js").read_text(encoding="utf-8").splitlines()
    first = widget_lines[0].strip() if widget_lines else ""
    if not (first.startswith("import ") and first.endswith(_IMPORT_SUFFIX)):
        raise RuntimeError(
            f"js/widget.js must start with one `import {{...}} {_IMPORT_SUFFIX}` line, got {first!r}"
        )
    rest = "\n".join(widget_lines[1:])
    if "import " in "\n".join(line for line in widget_lines[1:] if line.startswith("import ")):
        raise RuntimeError("js/widget.js may import only from ./pull.js")
    return f"// --- js/pull.js ---\n{pull}\n// --- js/widget.js ---\n{rest}\n"


def _source_js_dir() -> pathlib.Path | None:
    # In a source checkout (editable install) the package sits in <root>/src/livecam_widget.
    candidate = _HERE.parent.parent / "js"
    return candidate if (candidate / "widget.js").is_file() else None


def load() -> tuple[str, str]:
    """Return (esm, css). A source checkout wins over a built copy so edits to js/ show up at once."""
    src = _source_js_dir()
    if src is not None:
        return compose(src), (src / "widget.css").read_text(encoding="utf-8")
    static = _HERE / "static"
    return (static / "widget.js").read_text(encoding="utf-8"), (static / "widget.css").read_text(
        encoding="utf-8"
    )
