"""The browser side of the widget, as anywidget wants it: one ES module and one stylesheet.

The frontend lives in ``js/`` as several plain ES modules (``pull.js``: pure pacing logic; ``router.js``:
comm routing; ``transports.js``: connections; ``view.js``: the DOM; ``widget.js``: anywidget's entry point),
so node can test the pure parts without a DOM. anywidget loads ONE module, from a string or a file, and
cannot resolve relative imports from it (it imports a ``blob:`` URL), so :func:`compose` joins the modules
that ``widget.js`` reaches into one: dependencies first, their ``import`` lines removed (the names they bring
in are then top-level declarations of the same module) and their ``export`` keywords dropped. No bundler,
no npm: the same function runs at build time (``setup.py``) and in a source checkout.

Where it goes:

* :func:`paths` gives anywidget files (``_esm``/``_css``). With a file path anywidget re-reads the file, and
  with ``ANYWIDGET_HMR=1`` watches it and pushes changes to live views. In a source checkout the composed
  module is written to ``src/livecam_widget/static/widget.js`` (git-ignored; the wheel ships the same file
  at the same place), and under ``ANYWIDGET_HMR=1`` an edit in ``js/`` recomposes it, so it hot-reloads.
* :func:`load` gives the text, for the standalone page's HTTP handler.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import os
import pathlib
import re
import tempfile
import threading

__all__ = ["ComposeError", "compose", "load", "paths"]

ENTRY = "widget.js"
STYLESHEET = "widget.css"
_HERE = pathlib.Path(__file__).parent
_STATIC = _HERE / "static"
_log = logging.getLogger(__name__)


class ComposeError(ValueError):
    """The js/ modules use something joining them cannot keep correct; the message says what and where."""


# Statements are recognised at the start of a line, as formatted code has them (and as no comment line or
# string continuation in js/ does). `import {a, b} from "./x.js";` may span lines.
_NAMED_IMPORT = re.compile(
    r"""^import[ \t]*\{(?P<names>[^}]*)\}[ \t]*from[ \t]*"""
    r"""(?P<q>["'])(?P<spec>[^"'\n]+)(?P=q)[ \t]*;?[ \t]*$""",
    re.MULTILINE,
)
_ANY_IMPORT = re.compile(r"""^import(?=[\s{*"'])""", re.MULTILINE)  # not import(...) or import.meta
_ANY_EXPORT = re.compile(r"^export\b", re.MULTILINE)
_EXPORT_DEFAULT = re.compile(r"^export[ \t]+default\b", re.MULTILINE)
_EXPORT_DECLARATION = re.compile(
    r"^export[ \t]+(?=(?:async[ \t]+)?function\b|class\b|const\b|let\b|var\b)", re.MULTILINE
)
_IDENT = r"[A-Za-z_$][\w$]*"
_DECLARATION = re.compile(
    rf"^(?:export[ \t]+)?(?:(?:async[ \t]+)?function\b[ \t]*\*?[ \t]*(?P<fn>{_IDENT})"
    rf"|class[ \t]+(?P<cls>{_IDENT})"
    rf"|(?:const|let|var)[ \t]+(?P<var>{_IDENT}|[{{\[]))",
    re.MULTILINE,
)


class _Module:
    # A plain class, not a dataclass: setup.py runs this file without registering it in sys.modules, which
    # dataclasses need.
    def __init__(self, path: pathlib.Path, name: str, text: str) -> None:
        self.path = path
        self.name = name  # as shown in messages: relative to the js directory
        self.text = text
        self.imports: list[tuple[pathlib.Path, list[str]]] = []  # (file, names) per import statement
        self.declared: list[str] = []  # top-level names, in order
        self.exported: set[str] = set()


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _parse(path: pathlib.Path, root: pathlib.Path) -> _Module:
    text = path.read_text(encoding="utf-8")
    name = os.path.relpath(path, root).replace(os.sep, "/")
    module = _Module(path, name, text)
    named = list(_NAMED_IMPORT.finditer(text))
    handled = {match.start() for match in named}
    for match in _ANY_IMPORT.finditer(text):
        if match.start() not in handled:
            statement = text[match.start() :].split("\n", 1)[0]
            raise ComposeError(
                f"{name}:{_line(text, match.start())}: cannot join {statement!r}: only "
                '`import { a, b } from "./x.js";` (named, relative) is supported'
            )
    for match in named:
        where = f"{name}:{_line(text, match.start())}"
        spec = match["spec"]
        if not spec.startswith(("./", "../")):
            raise ComposeError(
                f"{where}: import from {spec!r}: only relative imports of other js/ files can be joined "
                "(the composed module is loaded from a blob: URL and resolves nothing)"
            )
        names = [n.strip() for n in match["names"].split(",") if n.strip()]
        for imported in names:
            if not re.fullmatch(_IDENT, imported):
                raise ComposeError(
                    f"{where}: cannot join `import {{{imported}}}`: only plain names (no `as` renames), "
                    "since the joined modules share one scope"
                )
        target = (path.parent / spec).resolve()
        if not target.is_file():
            raise ComposeError(f"{where}: imports {spec!r}, which is not a file ({target})")
        module.imports.append((target, names))
    for match in _ANY_EXPORT.finditer(text):
        rest = text[match.start() :]
        if not (_EXPORT_DEFAULT.match(rest) or _EXPORT_DECLARATION.match(rest)):
            statement = rest.split("\n", 1)[0]
            raise ComposeError(
                f"{name}:{_line(text, match.start())}: cannot join {statement!r}: export declarations "
                "(`export function|class|const ...`) and the entry's `export default` only"
            )
    for match in _DECLARATION.finditer(text):
        declared = match["fn"] or match["cls"] or match["var"]
        if declared in ("{", "["):
            raise ComposeError(
                f"{name}:{_line(text, match.start())}: a top-level destructuring declaration: joining "
                "checks top-level names for clashes and cannot see these; declare them one by one"
            )
        module.declared.append(declared)
        if match.group(0).startswith("export"):
            module.exported.add(declared)
    return module


def _ordered(root: pathlib.Path, entry: pathlib.Path) -> list[_Module]:
    """The modules the entry reaches, each after everything it imports (depth-first post-order)."""
    modules: dict[pathlib.Path, _Module] = {}
    order: list[_Module] = []
    stack: list[pathlib.Path] = []  # the import chain being followed, to name a cycle

    def visit(path: pathlib.Path) -> None:
        if path in stack:
            cycle = [*stack[stack.index(path) :], path]
            raise ComposeError(
                "import cycle: " + " -> ".join(modules[p].name for p in cycle) + " (joined, each module "
                "comes after what it imports, which a cycle makes impossible)"
            )
        if path in modules:
            return
        module = modules[path] = _parse(path, root)
        stack.append(path)
        for target, _names in module.imports:
            visit(target)
        stack.pop()
        order.append(module)

    visit(entry)
    return order


def compose(js_dir: pathlib.Path, entry: str = ENTRY) -> str:
    """One ES module from ``js_dir/entry`` and the modules it imports; raises :class:`ComposeError`."""
    root = js_dir.resolve()
    entry_path = root / entry
    if not entry_path.is_file():
        raise ComposeError(f"no entry module {entry_path}")
    order = _ordered(root, entry_path)
    by_path = {m.path: m for m in order}
    owner: dict[str, str] = {}
    for module in order:
        for imported_path, names in module.imports:
            target = by_path[imported_path]
            for imported in names:
                if imported not in target.exported:
                    raise ComposeError(
                        f"{module.name} imports {imported} from {target.name}, which does not export it"
                    )
        for declared in module.declared:
            if declared in owner:
                where = "twice" if owner[declared] == module.name else f"also in {owner[declared]}"
                raise ComposeError(
                    f"{module.name} declares {declared}, {where}: the joined modules share one scope, so "
                    "top-level names must be unique across them"
                )
            owner[declared] = module.name
    defaults = [m.name for m in order if _EXPORT_DEFAULT.search(m.text)]
    if defaults != [order[-1].name] or len(_EXPORT_DEFAULT.findall(order[-1].text)) != 1:
        raise ComposeError(
            f"exactly one `export default`, in the entry {entry}, is expected; "
            f"found it in {', '.join(defaults) or 'no module'}"
        )
    parts = [
        f"// Generated from js/ by livecam_widget._frontend.compose: edit js/{entry} and the modules it\n"
        "// imports, not this file. Modules in dependency order, joined into one scope.\n"
    ]
    for module in order:
        body = _NAMED_IMPORT.sub("", module.text)
        # Only the entry exports (its default): a named export of a dependency would become an export of the
        # widget module, and anywidget takes a module-level `render` export over the default object.
        body = _EXPORT_DECLARATION.sub("", body)
        parts.append(f"// --- js/{module.name} ---\n{body.strip()}\n")
    return "\n".join(parts)


def _source_js_dir() -> pathlib.Path | None:
    # In a source checkout (editable install) the package sits in <root>/src/livecam_widget.
    candidate = _HERE.parent.parent / "js"
    return candidate if (candidate / ENTRY).is_file() else None


def _hot_reload() -> bool:
    return os.environ.get("ANYWIDGET_HMR") == "1"  # the switch anywidget itself reads


def _write_if_changed(path: pathlib.Path, text: str) -> None:
    """Write ``text`` unless the file already holds it: an unchanged file keeps its mtime, so hot reload and
    kernels starting side by side see no change and never race to write.

    Normally the new file is renamed into place, so a reader never sees half a module. Under hot reload it is
    rewritten in place instead: anywidget's watcher (watchfiles) follows the file it was given, and loses it
    for good once a rename replaces it; its debounce reads the file only after the write has settled.
    """
    with contextlib.suppress(OSError):
        if path.read_text(encoding="utf-8") == text:
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    if _hot_reload():
        path.write_text(text, encoding="utf-8")
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the module from other users of a shared checkout
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


_watched: set[pathlib.Path] = set()
_watch_lock = threading.Lock()


def _recompose_on_change(js_dir: pathlib.Path, out: pathlib.Path) -> None:
    """Under ANYWIDGET_HMR=1: recompose ``out`` whenever a file in js/ changes, so anywidget (which watches
    ``out``) pushes the new module to live views. Needs watchfiles, as anywidget's own watching does."""
    try:
        watchfiles = importlib.import_module("watchfiles")
    except ImportError:
        return  # anywidget warns that live reload needs watchfiles
    with _watch_lock:
        if out in _watched:
            return
        _watched.add(out)

    def run() -> None:
        for _changes in watchfiles.watch(js_dir):
            try:
                _write_if_changed(out, compose(js_dir))
            except (ComposeError, OSError, UnicodeDecodeError) as e:
                _log.warning("livecam: js/ not recomposed, the last good module stays: %s", e)

    threading.Thread(target=run, name="livecam-js-watch", daemon=True).start()


def paths() -> tuple[pathlib.Path, pathlib.Path]:
    """(module, stylesheet) files for anywidget's ``_esm`` and ``_css``.

    Installed: the files the wheel ships in ``static/``. In a source checkout: the module composed from js/
    into ``static/widget.js`` now (or into a temporary directory if the checkout is read-only), and
    ``js/widget.css`` itself.
    """
    src = _source_js_dir()
    if src is None:
        return _STATIC / ENTRY, _STATIC / STYLESHEET
    text = compose(src)
    out = _STATIC / ENTRY
    try:
        _write_if_changed(out, text)
    except OSError:
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        out = pathlib.Path(tempfile.gettempdir()) / f"livecam_widget-{digest}" / ENTRY
        _write_if_changed(out, text)
    if _hot_reload():
        _recompose_on_change(src, out)
    return out, src / STYLESHEET


def load() -> tuple[str, str]:
    """(module, stylesheet) as text; a source checkout wins over a built copy: edits to js/ show at once."""
    src = _source_js_dir()
    if src is not None:
        return compose(src), (src / STYLESHEET).read_text(encoding="utf-8")
    return (_STATIC / ENTRY).read_text(encoding="utf-8"), (_STATIC / STYLESHEET).read_text(encoding="utf-8")
