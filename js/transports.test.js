import { test } from "node:test";
import assert from "node:assert/strict";
import { CommRouter } from "./router.js";
import {
  CLOSE_REFUSED_BY_CSP,
  jupyterBaseUrl,
  OPEN_TIMEOUT_MS,
  openComm,
  openTransport,
  openWebSocket,
  socketUrl,
  SUBPROTOCOL,
  transportCandidates,
} from "./transports.js";
import { buildFrame, fakeModel, FakeSocket, recorder } from "./fakes.js";

/** A model with these traits (and `send` unless told otherwise). */
function traits(values, { canSend = true } = {}) {
  const model = fakeModel({ canSend });
  model.get = (name) => values[name];
  return model;
}

const PAGE = { protocol: "http:", host: "lab.example:8888" };

/** @param {{config?: string, baseUrl?: string}} parts */
function fakeDocument({ config, baseUrl } = {}) {
  return {
    getElementById: (id) => (id === "jupyter-config-data" && config !== undefined ? { textContent: config } : null),
    body: { dataset: baseUrl === undefined ? {} : { baseUrl } },
  };
}

test("jupyterBaseUrl: from the page config (slash added), else the body's data-base-url, else null", () => {
  assert.equal(jupyterBaseUrl(fakeDocument({ config: '{"baseUrl": "/user/ann"}' })), "/user/ann/");
  assert.equal(jupyterBaseUrl(fakeDocument({ config: '{"baseUrl": "/"}' })), "/");
  assert.equal(jupyterBaseUrl(fakeDocument({ config: "not json", baseUrl: "/nb/" })), "/nb/");
  assert.equal(jupyterBaseUrl(fakeDocument({ config: '{"other": 1}', baseUrl: "/nb/" })), "/nb/");
  assert.equal(jupyterBaseUrl(fakeDocument()), null);
  assert.equal(jupyterBaseUrl(undefined), null); // node has no document: no Jupyter server either
});

test("transportCandidates: direct, then proxy (needs a Jupyter page), then comm (needs send)", () => {
  const all = traits({ _url: "ws://127.0.0.1:9/livecam/v1/x", _ws_port: 9 });
  assert.deepEqual(transportCandidates(all, "/"), ["websocket", "proxy", "comm"]);
  assert.deepEqual(transportCandidates(all, null), ["websocket", "comm"]);
  const page = traits({ _url: "ws://127.0.0.1:9/livecam/v1/x" }, { canSend: false });
  assert.deepEqual(transportCandidates(page, null), ["websocket"]);
  assert.deepEqual(transportCandidates(traits({}, { canSend: false }), "/"), []);
});

test("transportCandidates: a remote page skips the direct socket to the kernel's loopback address", () => {
  const model = traits({ _url: "ws://127.0.0.1:9/livecam/v1/x", _ws_port: 9 });
  const at = (protocol, host) => ({ protocol, host });
  // JupyterHub or a remote server; Colab's output frames: the browser is elsewhere.
  assert.deepEqual(transportCandidates(model, "/", at("https:", "hub.example.org")), ["proxy", "comm"]);
  assert.deepEqual(transportCandidates(model, null, at("https:", "abc-0-colab.googleusercontent.com")), ["comm"]);
  assert.deepEqual(transportCandidates(model, "/", at("http:", "10.0.0.5:8888")), ["proxy", "comm"]);
  // The same machine (or an SSH tunnel to it), and VS Code's webviews: the direct socket stays first.
  for (const page of [at("http:", "localhost:8888"), at("http:", "127.0.0.1:8888"), at("http:", "[::1]:8888"),
    at("http:", "lab.localhost"), at("vscode-webview:", "0a1b2c3d")]) {
    assert.deepEqual(transportCandidates(model, "/", page), ["websocket", "proxy", "comm"], page.host);
  }
  // A stream bound beyond loopback (host="0.0.0.0" names a reachable address) is tried from anywhere;
  // no page given (a forced transport) keeps it too.
  const wide = traits({ _url: "ws://10.0.0.5:9/livecam/v1/x", _ws_port: 9 });
  assert.deepEqual(transportCandidates(wide, "/", at("https:", "hub.example.org")), ["websocket", "proxy", "comm"]);
  assert.deepEqual(transportCandidates(model, "/", null), ["websocket", "proxy", "comm"]);
});

test("socketUrl: the direct URL loses its query (the token); the proxy URL follows the page", () => {
  const model = traits({ _url: "ws://127.0.0.1:9/livecam/v1/x?token=secret", _ws_port: 9, _ws_path: "/livecam/v1/x" });
  assert.equal(socketUrl("websocket", model, PAGE, null), "ws://127.0.0.1:9/livecam/v1/x");
  assert.equal(socketUrl("proxy", model, PAGE, "/user/ann/"), "ws://lab.example:8888/user/ann/proxy/9/livecam/v1/x");
  assert.equal(socketUrl("proxy", model, { ...PAGE, protocol: "https:" }, "/"), "wss://lab.example:8888/proxy/9/livecam/v1/x");
  assert.throws(() => socketUrl("websocket", traits({ _url: "not a url" }), PAGE, null));
});

test("openWebSocket: token as a subprotocol, text and frames through, a garbled frame reported", () => {
  const on = recorder();
  const conn = openWebSocket("ws://h:1/p", "tok", on, /** @type {any} */ (FakeSocket));
  const sock = FakeSocket.made.at(-1);
  assert.deepEqual(sock.protocols, [SUBPROTOCOL, "livecam.token.tok"]);
  assert.equal(sock.binaryType, "arraybuffer");
  conn.send("early"); // not open yet: dropped, as the loop only sends once told it is open
  sock.serverOpen();
  conn.send("hi");
  sock.serverText('{"type":"hello"}');
  sock.serverBinary(buildFrame({ seq: 3, mime: "image/jpeg" }, Uint8Array.of(7, 8)));
  sock.serverBinary(new ArrayBuffer(2));
  sock.serverClose(1006);
  assert.deepEqual(sock.sent, ["hi"]);
  assert.deepEqual(on.events.slice(0, 3), [
    ["open"],
    ["text", '{"type":"hello"}'],
    ["frame", { seq: 3, mime: "image/jpeg" }, [7, 8], undefined],
  ]);
  assert.equal(on.events[3][0], "frame");
  assert.equal(on.events[3][2], null);
  assert.match(on.events[3][3], /truncated/);
  assert.deepEqual(on.events[4], ["close", 1006]);
});

test("openWebSocket: a close we ask for is 1000 and reports nothing more", () => {
  const on = recorder();
  const conn = openWebSocket("ws://h:1/p", "tok", on, /** @type {any} */ (FakeSocket));
  const sock = FakeSocket.made.at(-1);
  sock.serverOpen();
  conn.close();
  sock.serverText("late");
  sock.serverClose(1000);
  assert.deepEqual(sock.closedWith, [1000]);
  assert.deepEqual(on.events, [["open"]]);
});

test("openComm: open announced with the view id; the hello opens; frames carry their buffer", () => {
  const model = fakeModel();
  const router = new CommRouter(model);
  const on = recorder();
  const conn = openComm(router, on);
  const [{ livecam, view }] = model.sent;
  assert.equal(livecam, "open");
  model.emit({ livecam: "text", view: "someone-else", text: "not ours" });
  model.emit({ livecam: "text", view, text: '{"type":"hello"}' });
  model.emit({ livecam: "text", view, text: '{"type":"status"}' });
  const bytes = new Uint8Array([0, 1, 2, 3, 4]);
  model.emit({ livecam: "frame", view, header: { seq: 1 } }, [new DataView(bytes.buffer, 1, 3)]);
  model.emit({ livecam: "frame", view, header: { seq: 2 } }, []);
  conn.send('{"type":"next"}');
  assert.deepEqual(on.events, [
    ["open"],
    ["text", '{"type":"hello"}'],
    ["text", '{"type":"status"}'],
    ["frame", { seq: 1 }, [1, 2, 3], undefined],
    ["frame", null, null, "comm frame without its image buffer"],
  ]);
  assert.deepEqual(model.sent.at(-1), { livecam: "message", view, text: '{"type":"next"}' });
});

test("openComm: the server's close is reported once and unroutes; our close tells the kernel", () => {
  const model = fakeModel();
  const router = new CommRouter(model);
  const on = recorder();
  openComm(router, on);
  const { view } = model.sent[0];
  model.emit({ livecam: "close", view, code: 1001 });
  model.emit({ livecam: "text", view, text: "late" });
  assert.deepEqual(on.events, [["close", 1001]]);
  assert.equal(router.size, 0);

  const mine = recorder();
  const conn = openComm(router, mine);
  const second = model.sent.at(-1).view;
  assert.notEqual(second, view);
  conn.close();
  assert.deepEqual(model.sent.at(-1), { livecam: "close", view: second });
  model.emit({ livecam: "text", view: second, text: "late" });
  assert.deepEqual(mine.events, []);
  assert.equal(model.count(), 1); // the router's one handler stays for the next connection
});

/** What openTransport needs, with a fake WebSocket and a router for the comm channel. */
function context(values = {}) {
  const model = traits({ _url: "ws://127.0.0.1:9/livecam/v1/x?token=t", _token: "t", _ws_port: 9, _ws_path: "/p", ...values });
  const router = new CommRouter(model);
  return { model, page: PAGE, baseUrl: "/", router: () => router, Socket: /** @type {any} */ (FakeSocket) };
}

test("openTransport: no hello within the deadline closes it and reports 4008", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const on = recorder();
  openTransport("websocket", context(), on);
  const sock = FakeSocket.made.at(-1);
  sock.serverOpen(); // an open socket is not enough: something else may listen on the port
  t.mock.timers.tick(OPEN_TIMEOUT_MS.websocket - 1);
  assert.deepEqual(on.events, [["open"]]);
  t.mock.timers.tick(1);
  assert.deepEqual(on.events, [["open"], ["close", 4008]]);
  assert.deepEqual(sock.closedWith, [1000]);
  sock.serverClose(1000); // nothing more after the deadline's close
  assert.equal(on.events.length, 2);
});

test("openTransport: a socket the page's CSP refuses is closed at once with 4003, not at the deadline", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const on = recorder();
  const doc = new EventTarget();
  openTransport("websocket", { ...context(), doc }, on);
  const sock = FakeSocket.made.at(-1);
  const violation = (uri) => Object.assign(new Event("securitypolicyviolation"), { blockedURI: uri });
  doc.dispatchEvent(violation("ws://127.0.0.1:8888/api/kernels")); // another socket's: not ours
  doc.dispatchEvent(violation("inline"));
  doc.dispatchEvent(violation("ws://127.0.0.1:90")); // a port that only starts like ours
  assert.deepEqual(on.events, []);
  doc.dispatchEvent(violation("ws://127.0.0.1:9")); // ours, by origin only (as browsers may report it)
  assert.deepEqual(on.events, [["close", CLOSE_REFUSED_BY_CSP]]);
  assert.deepEqual(sock.closedWith, [1000]);
  doc.dispatchEvent(violation("ws://127.0.0.1:9/livecam/v1/x"));
  t.mock.timers.tick(OPEN_TIMEOUT_MS.websocket * 2);
  assert.equal(on.events.length, 1); // reported once; the deadline says nothing more
});

test("openTransport: after the hello a CSP report is not ours to act on", () => {
  const on = recorder();
  const doc = new EventTarget();
  openTransport("websocket", { ...context(), doc }, on);
  const sock = FakeSocket.made.at(-1);
  sock.serverOpen();
  sock.serverText("hello");
  doc.dispatchEvent(Object.assign(new Event("securitypolicyviolation"), { blockedURI: "ws://127.0.0.1:9" }));
  assert.deepEqual(on.events, [["open"], ["text", "hello"]]);
});

test("openTransport: the hello ends the deadline", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const on = recorder();
  const ctx = context();
  openTransport("comm", ctx, on);
  const { view } = ctx.model.sent[0];
  ctx.model.emit({ livecam: "text", view, text: "hello" });
  t.mock.timers.tick(OPEN_TIMEOUT_MS.comm * 10);
  assert.deepEqual(on.events, [["open"], ["text", "hello"]]);
});

test("openTransport: a transport that cannot start is reported closed with 4000, after it returns", async () => {
  const on = recorder();
  const conn = openTransport("websocket", context({ _url: "not a url" }), on);
  assert.deepEqual(on.events, []); // the caller holds the connection before the close arrives
  conn.send("ignored");
  await Promise.resolve();
  assert.deepEqual(on.events, [["close", 4000]]);
});

test("openTransport: after our close nothing is reported, not even the deadline", (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  const on = recorder();
  const conn = openTransport("proxy", context(), on);
  const sock = FakeSocket.made.at(-1);
  assert.equal(sock.url, "ws://lab.example:8888/proxy/9/p");
  conn.close();
  conn.close();
  t.mock.timers.tick(OPEN_TIMEOUT_MS.proxy);
  assert.deepEqual(on.events, []);
  assert.deepEqual(sock.closedWith, [1000]);
});

test("openTransport: a server close is reported once, with its code", () => {
  const on = recorder();
  const conn = openTransport("websocket", context(), on);
  const sock = FakeSocket.made.at(-1);
  sock.serverOpen();
  sock.serverClose(1001);
  conn.close(); // the view drops it afterwards: no second report, no second close
  assert.deepEqual(on.events, [["open"], ["close", 1001]]);
  assert.deepEqual(sock.closedWith, []);
});
