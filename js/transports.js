import { parseFrame } from "./pull.js";

// The three ways a view reaches its stream (docs/protocol.md), behind one interface: a direct WebSocket to
// the kernel's server, the same WebSocket through jupyter-server-proxy, and the widget's comm channel (the
// last resort: it waits for the kernel's main thread). Which one to try next is TransportPlan's job (pull.js);
// opening one, the deadline for its hello, and delivering its messages is this file's.

/**
 * What a connection reports. After the view calls `close()` on it, it reports nothing more.
 * @typedef {object} TransportHandlers
 * @property {() => void} open  the connection is open (the comm channel: the server's first message came)
 * @property {(text: string) => void} text  a text message from the server
 * @property {(header: any, bytes: Uint8Array | null, error?: string) => void} frame  a binary frame, or
 *   null bytes and the reason it could not be read
 * @property {(code: number) => void} close  closed without the view asking: 1001 means the widget is closed
 * @typedef {{send(text: string): void, sendBinary(data: ArrayBuffer): void, close(): void}} Connection
 *   `sendBinary` carries a camera frame (a browser-camera widget's capturing view only)
 */

/** @typedef {import("./pull.js").TransportName} TransportName */

export const SUBPROTOCOL = "livecam.v1";

/** How long each transport may take to open (and say hello) before the next one is tried. */
export const OPEN_TIMEOUT_MS = /** @type {const} */ ({ websocket: 2000, proxy: 4000, comm: 4000 });

/**
 * The Jupyter server's base URL, when this page was served by one (Lab, Notebook 7, Voila).
 * @param {Document | undefined} [doc] the page (a parameter so node can test it with a stand-in)
 * @returns {string | null}
 */
export function jupyterBaseUrl(doc = globalThis.document) {
  const config = doc?.getElementById("jupyter-config-data");
  if (config?.textContent) {
    try {
      const base = JSON.parse(config.textContent).baseUrl;
      if (typeof base === "string") return base.endsWith("/") ? base : `${base}/`;
    } catch {
      // not JSON: fall through to the attribute Notebook 6 style pages carry
    }
  }
  const base = doc?.body?.dataset?.baseUrl;
  return typeof base === "string" ? base : null;
}

/**
 * The model's traits a transport needs (synced from LiveFrame).
 * @typedef {{get(name: string): any, send?: Function}} TransportModel
 */

/**
 * Whether a host name is this machine's own (loopback): `localhost`, `*.localhost`, 127.0.0.0/8, `::1`.
 * @param {string} host  a URL's hostname (IPv6 in brackets, as URL gives it)
 */
export function isLoopbackHost(host) {
  const name = host.toLowerCase().replace(/^\[|\]$/g, "");
  return name === "localhost" || name.endsWith(".localhost") || name === "::1" || /^127(\.\d{1,3}){3}$/.test(name);
}

/**
 * The direct socket cannot work from this page: the stream listens on a loopback address (the kernel's own
 * machine) while the page comes from another host over http(s), so the browser runs elsewhere (JupyterHub,
 * a remote server, Colab) and its "127.0.0.1" is its own machine. Trying would cost a refused (or, behind a
 * firewall, a timed-out) connection before the proxy or the comm. Pages that are not http(s) (VS Code's
 * `vscode-webview:` notebooks) run beside a local kernel and keep the direct socket.
 * @param {TransportModel} model @param {{protocol: string, host: string}} page  the page's location
 */
export function directCannotWork(model, page) {
  if (page.protocol !== "http:" && page.protocol !== "https:") return false;
  try {
    const stream = new URL(model.get("_url")).hostname;
    const here = new URL(`${page.protocol}//${page.host}`).hostname;
    return isLoopbackHost(stream) && !isLoopbackHost(here);
  } catch {
    return false; // an unreadable URL: the attempt itself will say so
  }
}

/**
 * The transports this page can use, in order of preference.
 * @param {TransportModel} model @param {string | null} baseUrl  from `jupyterBaseUrl()`
 * @param {{protocol: string, host: string} | null} [page]  the page's location, to leave out a direct
 *   socket that cannot work (see `directCannotWork`); null keeps it (a transport the user forced)
 * @returns {TransportName[]}
 */
export function transportCandidates(model, baseUrl, page = null) {
  /** @type {TransportName[]} */
  const list = [];
  if (model.get("_url") && !(page && directCannotWork(model, page))) list.push("websocket");
  if (model.get("_ws_port") && baseUrl !== null) list.push("proxy");
  if (typeof model.send === "function") list.push("comm");
  return list;
}

/**
 * Where a WebSocket transport connects. The token never goes into the URL (it travels as a subprotocol), so
 * the direct URL loses its query string.
 * @param {"websocket" | "proxy"} kind @param {TransportModel} model
 * @param {{protocol: string, host: string}} page  the page's location
 * @param {string | null} baseUrl  from `jupyterBaseUrl()`; needed for "proxy"
 * @returns {string}
 */
export function socketUrl(kind, model, page, baseUrl) {
  if (kind === "proxy") {
    const scheme = page.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${page.host}${baseUrl}proxy/${model.get("_ws_port")}${model.get("_ws_path")}`;
  }
  const direct = new URL(model.get("_url")); // throws on a URL the browser refuses: the caller moves on
  direct.search = "";
  return direct.href;
}

/**
 * A WebSocket to the stream server, directly or through jupyter-server-proxy. The token travels as a
 * subprotocol, so it appears in no URL and no proxy log.
 * @param {string} url @param {string} token @param {TransportHandlers} on
 * @param {typeof WebSocket} [Socket]  the WebSocket class (a parameter so node can test with a fake)
 * @returns {Connection}
 */
export function openWebSocket(url, token, on, Socket = globalThis.WebSocket) {
  const sock = new Socket(url, [SUBPROTOCOL, `livecam.token.${token}`]);
  sock.binaryType = "arraybuffer";
  sock.onopen = () => on.open();
  sock.onclose = (ev) => on.close(ev.code);
  sock.onmessage = (ev) => {
    if (typeof ev.data === "string") return on.text(ev.data);
    let frame;
    try {
      frame = parseFrame(ev.data);
    } catch (e) {
      return on.frame(null, null, /** @type {Error} */ (e).message);
    }
    on.frame(frame.header, frame.bytes);
  };
  return {
    send: (text) => {
      if (sock.readyState === Socket.OPEN) sock.send(text);
    },
    sendBinary: (data) => {
      if (sock.readyState === Socket.OPEN) sock.send(data);
    },
    close() {
      sock.onopen = sock.onmessage = sock.onclose = null; // a close we asked for is no reason to reconnect
      sock.close(1000);
    },
  };
}

/**
 * The same protocol over the widget's comm channel (anywidget custom messages), through the model's router:
 * every page of the model receives every message, so each carries this view's id.
 * @param {import("./router.js").CommRouter} router @param {TransportHandlers} on
 * @returns {Connection}
 */
export function openComm(router, on) {
  const view = router.newViewId();
  let opened = false;
  const unroute = router.route(view, (msg, buffers) => {
    if (msg.livecam === "text") {
      if (!opened) {
        opened = true; // the server's hello is the handshake
        on.open();
      }
      on.text(String(msg.text));
    } else if (msg.livecam === "frame") {
      const buf = buffers[0];
      if (!buf) return on.frame(null, null, "comm frame without its image buffer");
      on.frame(msg.header, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    } else if (msg.livecam === "close") {
      unroute();
      on.close(Number(msg.code) || 1000);
    }
  });
  router.send({ livecam: "open", view });
  return {
    send: (text) => router.send({ livecam: "message", view, text }),
    sendBinary: (data) => router.send({ livecam: "binary", view }, [data]),
    close() {
      unroute();
      router.send({ livecam: "close", view });
    },
  };
}

/** A socket the page's Content-Security-Policy refused. Browsers fire no close event for it (Chromium
 * fires only `securitypolicyviolation` on the document), so without this the view waited out the deadline. */
export const CLOSE_REFUSED_BY_CSP = 4003;

/**
 * Call `refused` if the page's Content-Security-Policy blocks `url` (VS Code's optional notebook CSP,
 * `connect-src https:`, blocks every `ws:` URL). Returns the function that stops watching.
 * @param {EventTarget | undefined} doc  the page's document @param {string} url @param {() => void} refused
 * @returns {() => void}
 */
export function watchCsp(doc, url, refused) {
  if (!doc || typeof doc.addEventListener !== "function") return () => {};
  /** @param {Event} ev */
  const listener = (ev) => {
    // The full URL, or its origin only where the browser withholds the rest.
    const blocked = String(/** @type {any} */ (ev).blockedURI ?? "");
    const prefix = blocked.endsWith("/") ? blocked : `${blocked}/`;
    if (blocked && (url === blocked || url.startsWith(prefix) || url.startsWith(`${blocked}?`))) refused();
  };
  doc.addEventListener("securitypolicyviolation", listener);
  return () => doc.removeEventListener("securitypolicyviolation", listener);
}

/**
 * What opening a transport needs to know about the view.
 * @typedef {object} TransportContext
 * @property {TransportModel} model  the widget's traits: `_url`, `_token`, `_ws_port`, `_ws_path`
 * @property {{protocol: string, host: string}} page  the page's location
 * @property {string | null} baseUrl  from `jupyterBaseUrl()`
 * @property {() => import("./router.js").CommRouter} router  the comm router (asked for only by "comm")
 * @property {typeof WebSocket} [Socket]  the WebSocket class, for node tests
 * @property {EventTarget} [doc]  where CSP violations are reported (the page's document by default)
 */

/**
 * Open `kind` with a deadline. A filtered port would hang for minutes, and something else listening on the
 * port may accept the socket and never speak our protocol: each transport gets OPEN_TIMEOUT_MS to say hello
 * (its first text message), else it is closed and reported closed with 4008. A transport that cannot even be
 * started (e.g. a URL the browser refuses) is reported closed with 4000, on a microtask so the caller holds
 * the returned connection first. Either way the view's TransportPlan then tries the next one.
 * @param {TransportName} kind @param {TransportContext} ctx @param {TransportHandlers} on
 * @param {number} [deadlineMs]
 * @returns {Connection}
 */
export function openTransport(kind, ctx, on, deadlineMs = OPEN_TIMEOUT_MS[kind]) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let ended = false; // closed by either side: nothing more is reported
  let unwatch = () => {};
  /** @param {number} code */
  const closed = (code) => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    unwatch();
    on.close(code);
  };
  /** @type {TransportHandlers} */
  const guarded = {
    open: () => void (ended || on.open()),
    text: (text) => {
      if (ended) return;
      clearTimeout(timer); // the server's hello, not just an open socket, ends the deadline
      unwatch();
      on.text(text);
    },
    frame: (header, bytes, error) => void (ended || on.frame(header, bytes, error)),
    close: closed,
  };
  /** @type {Connection} */
  let conn;
  try {
    if (kind === "comm") {
      conn = openComm(ctx.router(), guarded);
    } else {
      const url = socketUrl(kind, ctx.model, ctx.page, ctx.baseUrl);
      const socket = openWebSocket(url, ctx.model.get("_token"), guarded, ctx.Socket);
      conn = socket;
      unwatch = watchCsp(ctx.doc ?? globalThis.document, url, () => {
        socket.close();
        closed(CLOSE_REFUSED_BY_CSP);
      });
    }
  } catch {
    queueMicrotask(() => closed(4000));
    return { send() {}, sendBinary() {}, close: () => void (ended = true) };
  }
  timer = setTimeout(() => {
    if (ended) return;
    conn.close();
    closed(4008);
  }, deadlineMs);
  return {
    send(text) {
      if (!ended) conn.send(text);
    },
    sendBinary(data) {
      if (!ended) conn.sendBinary(data);
    },
    close() {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      unwatch();
      conn.close();
    },
  };
}
