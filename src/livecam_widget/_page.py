"""The standalone page (``livecam serve``, ``lf.page_url``): the widget's own frontend outside Jupyter.

A read-only stand-in for the anywidget model carries what the view needs (the stream's URL and token), so the
page runs exactly the module that JupyterLab runs, through the same lifecycle: ``initialize`` once for the
model (awaited, and optional, as anywidget treats it), then ``render`` for the view. The stand-in has no
``send``, so the view offers no comm transport (the page talks to the stream server directly), and no
``set``, so the overlay toggle stays the view's own. Formatted with ``str.format``: braces are doubled.
"""

from __future__ import annotations

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>livecam: {title}</title><link rel="icon" href="data:,">
<style>body{{margin:0;background:#111;color:#ddd;font:14px sans-serif}} #view{{max-width:100vw}}
{css}</style></head>
<body><div id="view"></div>
<script type="module">
import widget from "./widget.js?token={token}";
const url = `${{location.protocol === "https:" ? "wss" : "ws"}}://${{location.hostname}}:{ws_port}{path}`;
const state = {{ _url: url, _token: "{token}", _closed: false, transport: "websocket" }};
const model = {{ get: (k) => state[k], on() {{}}, off() {{}} }};
// The cleanups are anywidget's to call when a model or view goes away; this page keeps both until it unloads.
const cleanup = await widget.initialize?.({{ model }});
widget.render({{ model, el: document.getElementById("view") }});
</script></body></html>
"""
