"""``_frontend``: joining the js/ modules into the one module anywidget loads, and where that module lives."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time
import types
from collections.abc import Iterator

import pytest

from livecam_widget import _frontend
from livecam_widget._frontend import ComposeError, compose

JS = pathlib.Path(__file__).resolve().parent.parent / "js"
NODE = shutil.which("node")
needs_node = pytest.mark.skipif(NODE is None, reason="node is not installed")
needs_checkout = pytest.mark.skipif(not (JS / "widget.js").is_file(), reason="not a source checkout")


def write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


ENTRY = (
    'import { view } from "./view.js";\nfunction render() { return view(); }\nexport default { render };\n'
)


def node_eval(module: pathlib.Path, script: str) -> str:
    """Import ``module`` in node and print ``script`` evaluated with the module namespace as ``m``."""
    assert NODE is not None
    code = f"import({str(module.as_uri())!r}).then((m) => console.log(JSON.stringify({script})));"
    done = subprocess.run([NODE, "-e", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_dependencies_come_first_once_with_imports_and_exports_stripped(tmp_path: pathlib.Path) -> None:
    write(
        tmp_path,
        {
            "widget.js": ENTRY,
            # a multi-line import, as a formatter writes a long one
            "view.js": 'import {\n  a,\n} from "./a.js";\nimport { b, b2 } from "./b.js";\n'
            "export function view() { return a + b + b2; }\n",
            "a.js": 'import { b } from "./b.js";\nexport const a = b * 2;\n',
            "b.js": "export const b = 1;\nexport const b2 = 10;\n",
            "unrelated.test.js": 'import { test } from "node:test";\n',  # not reached: not joined
        },
    )
    out = compose(tmp_path)
    banners = [line for line in out.splitlines() if line.startswith("// --- js/")]
    assert banners == [
        "// --- js/b.js ---",
        "// --- js/a.js ---",
        "// --- js/view.js ---",
        "// --- js/widget.js ---",
    ]
    assert not [line for line in out.splitlines() if line.startswith(("import", "} from"))]
    assert [line for line in out.splitlines() if line.startswith("export")] == ["export default { render };"]
    assert "const a = b * 2;" in out


def test_an_import_of_a_name_the_module_does_not_export_is_refused(tmp_path: pathlib.Path) -> None:
    write(
        tmp_path,
        {
            "widget.js": ENTRY,
            "view.js": 'import { b } from "./a.js";\nexport function view() { return b; }\n',
            "a.js": 'import { b } from "./b.js";\nexport const a = b;\n',  # uses b, does not re-export it
            "b.js": "export const b = 1;\n",
        },
    )
    with pytest.raises(ComposeError, match=r"view\.js imports b from a\.js, which does not export it"):
        compose(tmp_path)


@needs_node
def test_a_composed_module_runs_and_exports_only_its_default(tmp_path: pathlib.Path) -> None:
    write(
        tmp_path / "js",
        {
            "widget.js": ENTRY,
            "view.js": 'import { a, K, later } from "./lib/a.js";\nimport { b } from "./b.js";\n'
            "export function view() { return a + b + new K().n; }\nexport const unused = later;\n",
            "lib/a.js": 'import { b } from "../b.js";\nexport const a = b * 2;\n'
            "export async function later() {}\nexport class K { n = 10; }\n",
            "b.js": "export const b = 1;\n",
        },
    )
    module = tmp_path / "out.mjs"
    module.write_text(compose(tmp_path / "js"), encoding="utf-8")
    assert "// --- js/lib/a.js ---" in module.read_text(encoding="utf-8")
    assert node_eval(module, "[Object.keys(m), m.default.render()]") == '[["default"],13]'


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"widget.js": 'import { x } from "lodash";\n' + ENTRY},
            r"widget\.js:1: import from 'lodash': only relative",
        ),
        ({"widget.js": 'import { test } from "node:test";\n' + ENTRY}, r"only relative imports"),
        ({"widget.js": 'import { x } from "https://esm.sh/x";\n' + ENTRY}, r"only relative imports"),
        ({"widget.js": 'import x from "./x.js";\n' + ENTRY}, r"widget\.js:1: cannot join 'import x from"),
        ({"widget.js": 'import * as x from "./x.js";\n' + ENTRY}, r"cannot join 'import \* as x"),
        ({"widget.js": 'import "./x.js";\n' + ENTRY}, r"cannot join 'import \"\./x\.js\";'"),
        ({"widget.js": 'import { view as v } from "./view.js";\n' + ENTRY}, r"no `as` renames"),
        ({"widget.js": ENTRY}, r"widget\.js:1: imports './view\.js', which is not a file"),
        (
            {
                "widget.js": ENTRY,
                "view.js": 'import { render } from "./widget.js";\nexport function view() {}\n',
            },
            r"import cycle: widget\.js -> view\.js -> widget\.js",
        ),
        (
            {"widget.js": ENTRY, "view.js": 'import { view } from "./view.js";\nexport function view() {}\n'},
            r"import cycle: view\.js -> view\.js",
        ),
        (
            {
                "widget.js": ENTRY + "const LABELS = 1;\n",
                "view.js": "const LABELS = 2;\nexport function view() {}\n",
            },
            r"widget\.js declares LABELS, also in view\.js: .*top-level names must be unique",
        ),
        (
            {"widget.js": ENTRY, "view.js": "export function view() {}\nclass view {}\n"},
            r"view\.js declares view, twice",
        ),
        (
            {"widget.js": ENTRY, "view.js": "export function view() {}\nexport default view;\n"},
            r"exactly one `export default`, in the entry widget\.js.*found it in view\.js, widget\.js",
        ),
        (
            {
                "widget.js": ENTRY.replace("export default { render };\n", ""),
                "view.js": "export function view() {}\n",
            },
            r"found it in no module",
        ),
        (
            {"widget.js": ENTRY, "view.js": "function view() {}\nexport { view };\n"},
            r"view\.js:2: cannot join 'export \{ view \};'",
        ),
        (
            {"widget.js": ENTRY, "view.js": 'export * from "./x.js";\nexport function view() {}\n'},
            r"cannot join 'export \* from",
        ),
        (
            {"widget.js": ENTRY, "view.js": "export const { view } = { view() {} };\n"},
            r"view\.js:1: a top-level destructuring declaration",
        ),
    ],
)
def test_what_cannot_be_joined_is_refused_with_where_and_why(
    tmp_path: pathlib.Path, files: dict[str, str], message: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(ComposeError, match=message):
        compose(tmp_path)


def test_no_entry(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ComposeError, match="no entry module"):
        compose(tmp_path)


@needs_checkout
def test_the_real_frontend_joins_into_one_module_with_one_default_export() -> None:
    out = compose(JS)
    exports = [line for line in out.splitlines() if line.startswith("export")]
    assert exports == ["export default { initialize, render };"]
    for name in ("pull.js", "router.js", "transports.js", "view.js", "widget.js"):
        assert f"// --- js/{name} ---" in out
    assert "fakes.js" not in out and "node:test" not in out  # test helpers are not reached from widget.js


@needs_checkout
@needs_node
def test_the_real_frontend_parses_and_loads_as_a_module_in_node(tmp_path: pathlib.Path) -> None:
    module = tmp_path / "widget.mjs"
    module.write_text(compose(JS), encoding="utf-8")
    assert NODE is not None
    check = subprocess.run([NODE, "--check", str(module)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
    # Evaluating it touches no DOM (only render does): anywidget's two hooks are there, and nothing else.
    assert (
        node_eval(module, "[Object.keys(m), Object.keys(m.default)]")
        == '[["default"],["initialize","render"]]'
    )


@pytest.fixture
def checkout(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.SimpleNamespace]:
    """A js/ directory and a static/ directory of their own, so nothing is written into the work tree."""
    js = write(tmp_path / "js", {"widget.js": "export default { render() {} };\n", "widget.css": ".a{}\n"})
    static = tmp_path / "pkg" / "static"
    monkeypatch.setattr(_frontend, "_source_js_dir", lambda: js)
    monkeypatch.setattr(_frontend, "_STATIC", static)
    monkeypatch.setattr(_frontend, "_watched", set())
    monkeypatch.delenv("ANYWIDGET_HMR", raising=False)
    yield types.SimpleNamespace(js=js, static=static)


def test_in_a_checkout_paths_writes_the_composed_module_and_names_the_source_css(
    checkout: types.SimpleNamespace,
) -> None:
    esm, css = _frontend.paths()
    assert esm == checkout.static / "widget.js" and css == checkout.js / "widget.css"
    assert esm.read_text(encoding="utf-8") == compose(checkout.js)
    assert _frontend.load() == (compose(checkout.js), ".a{}\n")
    # Unchanged sources leave the file alone (no spurious hot reload, no race between kernels)...
    os.utime(esm, ns=(1, 1))
    _frontend.paths()
    assert esm.stat().st_mtime_ns == 1
    # ...changed ones replace it, whole.
    (checkout.js / "widget.js").write_text("export default { render() { return 2; } };\n")
    _frontend.paths()
    assert "return 2" in esm.read_text(encoding="utf-8")
    assert sorted(p.name for p in checkout.static.iterdir()) == ["widget.js"]  # no temporary file left


def test_a_read_only_checkout_gets_the_module_from_a_temporary_directory(
    checkout: types.SimpleNamespace, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "blocked").write_text("a file where the static directory would go")
    monkeypatch.setattr(_frontend, "_STATIC", tmp_path / "blocked" / "static")
    monkeypatch.setattr(_frontend.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    esm, _css = _frontend.paths()
    assert esm.is_relative_to(tmp_path / "tmp") and esm.read_text(encoding="utf-8") == compose(checkout.js)


def test_installed_the_shipped_files_are_used(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = write(tmp_path / "static", {"widget.js": "export default {};\n", "widget.css": ".b{}\n"})
    monkeypatch.setattr(_frontend, "_source_js_dir", lambda: None)
    monkeypatch.setattr(_frontend, "_STATIC", static)
    assert _frontend.paths() == (static / "widget.js", static / "widget.css")
    assert _frontend.load() == ("export default {};\n", ".b{}\n")


def test_with_hot_reload_an_edit_in_js_recomposes_the_module(
    checkout: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = threading.Event()
    watched: list[pathlib.Path] = []

    def watch(path: pathlib.Path) -> Iterator[set[tuple[int, str]]]:
        # watchfiles.watch as the recomposer uses it: one batch of changes per edit.
        watched.append(path)
        edited.wait(10)
        yield {(2, str(path / "widget.js"))}

    monkeypatch.setitem(sys.modules, "watchfiles", types.SimpleNamespace(watch=watch))
    monkeypatch.setenv("ANYWIDGET_HMR", "1")
    esm, _css = _frontend.paths()
    _frontend.paths()  # a second widget class or reload: still one watcher
    (checkout.js / "widget.js").write_text("export default { render() { return 'edited'; } };\n")
    edited.set()
    deadline = time.monotonic() + 10
    while "edited" not in esm.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "edited" in esm.read_text(encoding="utf-8")
    assert watched == [checkout.js]


def test_without_watchfiles_hot_reload_starts_nothing(
    checkout: types.SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "watchfiles", None)  # import fails as if not installed
    monkeypatch.setenv("ANYWIDGET_HMR", "1")
    before = threading.active_count()
    _frontend.paths()
    assert threading.active_count() == before
