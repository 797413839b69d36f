"""The standalone page (``livecam serve``, ``lf.page_url``): the widget's own frontend outside Jupyter.

A read-only stand-in for the anywidget model carries what the view needs (the stream's URL and token), so the
page runs exactly the module that JupyterLab runs. Formatted with ``str.format``: braces are doubled.
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
widget.render({{ model, el: document.getElementById("view") }});
</script></body></html>
"""
