import { fitWidth, framePoint, keyAction, overlayLines, parseFrame, PullLoop, TransportPlan } from "./pull.js";

// The anywidget view: one connection per view, frames drawn on a canvas. Pacing and state live in
// PullLoop, the choice of transport in TransportPlan (pull.js); this file only does I/O. The streaming path
// never depends on the kernel's main thread except on the comm transport, the last resort.

/** Badge text per state; the `error` state shows the server's (or decoder's) text instead. */
const LIVECAM_LABELS = {
  connecting: "connecting…",
  live: "live",
  paused: "paused",
  hidden: "hidden",
  closed: "closed",
};

/** A press that moves less than this (CSS px) before release is a click, else a drag. */
const LIVECAM_DRAG_MIN_PX = 4;

/** How long each transport may take to open (and say hello) before the next one is tried. */
const LIVECAM_OPEN_TIMEOUT_MS = { websocket: 2000, proxy: 4000, comm: 4000 };
const LIVECAM_SUBPROTOCOL = "livecam.v1";

/**
 * The Jupyter server's base URL, when this page was served by one (Lab, Notebook 7, Voila).
 * @returns {string | null}
 */
function livecamJupyterBaseUrl() {
  const config = document.getElementById("jupyter-config-data");
  if (config?.textContent) {
    try {
      const base = JSON.parse(config.textContent).baseUrl;
      if (typeof base === "string") return base.endsWith("/") ? base : `${base}/`;
    } catch {
      // fall through
    }
  }
  const base = document.body?.dataset?.baseUrl;
  return typeof base === "string" ? base : null;
}

/**
 * @typedef {object} LivecamHandlers
 * @property {() => void} open
 * @property {(text: string) => void} text
 * @property {(header: any, bytes: Uint8Array | null, error?: string) => void} frame
 * @property {(code: number) => void} close
 * @typedef {{send(text: string): void, close(): void}} LivecamConnection
 */

/**
 * A WebSocket to the stream server, directly or through jupyter-server-proxy. The token travels as a
 * subprotocol, so it appears in no URL and no proxy log.
 * @param {string} url @param {string} token @param {LivecamHandlers} on
 * @returns {LivecamConnection}
 */
function livecamWebSocket(url, token, on) {
  const sock = new WebSocket(url, [LIVECAM_SUBPROTOCOL, `livecam.token.${token}`]);
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
    send: (text) => sock.readyState === WebSocket.OPEN && sock.send(text),
    close() {
      sock.onopen = sock.onmessage = sock.onclose = null; // a close we asked for is no reason to reconnect
      sock.close(1000);
    },
  };
}

/**
 * The same protocol over the widget's comm channel (anywidget custom messages). Every view of the model
 * receives every message, so each carries this view's id.
 * @param {any} model @param {LivecamHandlers} on
 * @returns {LivecamConnection}
 */
function livecamComm(model, on) {
  const view = `v${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  let opened = false;
  /** @param {any} msg @param {DataView[]} buffers */
  const handler = (msg, buffers) => {
    if (!msg || msg.view !== view) return;
    if (msg.livecam === "text") {
      if (!opened) {
        opened = true; // the server's hello is the handshake
        on.open();
      }
      on.text(String(msg.text));
    } else if (msg.livecam === "frame") {
      const buf = buffers?.[0];
      if (!buf) return on.frame(null, null, "comm frame without its image buffer");
      on.frame(msg.header, new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
    } else if (msg.livecam === "close") {
      model.off("msg:custom", handler);
      on.close(Number(msg.code) || 1000);
    }
  };
  model.on("msg:custom", handler);
  model.send({ livecam: "open", view });
  return {
    send: (text) => model.send({ livecam: "message", view, text }),
    close() {
      model.off("msg:custom", handler);
      model.send({ livecam: "close", view });
    },
  };
}

/** Hover controls: action, label, tooltip (the key in brackets). */
const LIVECAM_CONTROLS = /** @type {const} */ ([
  ["pause", "❚❚", "pause / resume this view [space]"],
  ["snapshot", "⤓", "save the frame on screen as PNG [s]"],
  ["fullscreen", "⤢", "fullscreen [f]"],
  ["native", "1:1", "1:1 pixels / fit to width [1]"],
  ["overlay", "i", "stats overlay [i]"],
]);

/**
 * Save the canvas as a PNG download: the exact pixels on screen (the canvas is frame-sized).
 * @param {HTMLCanvasElement} canvas @param {string} name
 */
function livecamDownloadPng(canvas, name) {
  canvas.toBlob((blob) => {
    if (!blob) return;
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = name;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }, "image/png");
}

/**
 * @param {{model: any, el: HTMLElement}} ctx
 */
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "livecam";
  root.tabIndex = 0; // focusable, so its keyboard shortcuts apply only when the user picked this view
  root.dataset.livecamFit = "fit";
  const canvas = document.createElement("canvas");
  canvas.className = "livecam-canvas";
  const badge = document.createElement("div");
  badge.className = "livecam-status";
  const overlay = document.createElement("pre");
  overlay.className = "livecam-overlay";
  const controls = document.createElement("div");
  controls.className = "livecam-controls";
  root.append(canvas, badge, overlay, controls);
  el.append(root);
  const ctx2d = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));
  /** @type {any} header of the frame on screen */
  let shownHeader = null;
  let shownBytes = 0;
  let overlayTimer = 0;

  let inView = true; // until the IntersectionObserver reports otherwise
  /** @type {LivecamConnection | null} */
  let conn = null;
  let connSerial = 0; // which connection a late event belongs to
  let openTimer = 0;
  let reconnectTimer = 0;
  let wakeTimer = 0;
  let raf = 0;
  /** @type {ImageBitmap | null} decoded, waiting for its animation frame */
  let queued = null;
  /** @type {PullLoop} */
  let loop;
  /** @type {TransportPlan} */
  let plan;

  const visible = () => inView && document.visibilityState !== "hidden";

  /** @param {string} state @param {string | null} detail */
  function show(state, detail) {
    // On both the view's element and the container, so tests can find it either way.
    root.dataset.livecamState = el.dataset.livecamState = state;
    const via = plan?.current && plan.current !== "websocket" && state === "live" ? ` · ${plan.current}` : "";
    badge.textContent = state === "error" ? String(detail) : LIVECAM_LABELS[/** @type {"live"} */ (state)] + via;
    badge.classList.toggle("livecam-error", state === "error");
  }

  /** Forget the current connection and anything in flight for it, without telling the loop. */
  function dropConnection() {
    for (const t of [openTimer, reconnectTimer, wakeTimer]) clearTimeout(t);
    cancelAnimationFrame(raf);
    openTimer = reconnectTimer = wakeTimer = raf = 0;
    queued?.close();
    queued = null;
    connSerial++;
    conn?.close();
    conn = null;
  }

  /** The transports this page can use, in order of preference. */
  function candidates() {
    /** @type {import("./pull.js").TransportName[]} */
    const list = [];
    if (model.get("_url")) list.push("websocket");
    if (model.get("_ws_port") && livecamJupyterBaseUrl() !== null) list.push("proxy");
    if (typeof model.send === "function") list.push("comm");
    return list;
  }

  function connect() {
    const kind = plan.current;
    if (!kind) return show("error", "no transport can reach the kernel from this page");
    root.dataset.livecamTransport = kind;
    const serial = ++connSerial;
    const mine = (/** @type {Function} */ fn) => (/** @type {any[]} */ ...args) => {
      if (serial === connSerial) fn(...args);
    };
    /** @type {LivecamHandlers} */
    const on = {
      open: mine(() => loop.opened()),
      text: mine((/** @type {string} */ text) => {
        clearTimeout(openTimer); // the server's hello, not just an open socket, ends the deadline
        loop.text(text);
      }),
      frame: mine((/** @type {any} */ header, /** @type {Uint8Array | null} */ bytes, /** @type {string} */ err) =>
        bytes ? void showFrame(serial, header, bytes) : loop.failed(loop.frame(null), err),
      ),
      close: mine((/** @type {number} */ code) => {
        clearTimeout(openTimer);
        conn = null;
        connSerial++;
        if (code !== 1001) plan.failed();
        loop.closed(code);
      }),
    };
    try {
      if (kind === "comm") {
        conn = livecamComm(model, on);
      } else {
        const direct = new URL(model.get("_url"));
        direct.search = "";
        let url = direct.href;
        if (kind === "proxy") {
          const scheme = location.protocol === "https:" ? "wss:" : "ws:";
          url = `${scheme}//${location.host}${livecamJupyterBaseUrl()}proxy/${model.get("_ws_port")}${model.get("_ws_path")}`;
        }
        conn = livecamWebSocket(url, model.get("_token"), on);
      }
    } catch (e) {
      return on.close(4000); // e.g. a URL the browser refuses: try the next transport
    }
    // A filtered port would hang for minutes, and something else listening on the port may accept the
    // socket and never speak our protocol: each transport gets a deadline to say hello.
    openTimer = setTimeout(() => {
      if (serial !== connSerial) return;
      conn?.close();
      on.close(4008);
    }, LIVECAM_OPEN_TIMEOUT_MS[kind]);
  }

  /** @param {number} serial @param {any} header @param {Uint8Array} bytes */
  async function showFrame(serial, header, bytes) {
    // Bound now: after a URL change `loop` is a new PullLoop whose frame ids restart at 1.
    const pull = loop;
    const id = pull.frame(header);
    const t0 = performance.now();
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes], { type: header.mime }));
    } catch (e) {
      pull.failed(id, `cannot decode frame ${header.seq} (${header.mime}): ${/** @type {Error} */ (e).message}`);
      return;
    }
    const decodeMs = performance.now() - t0;
    if (serial !== connSerial) {
      bitmap.close(); // the connection went away while decoding; the loop has moved on
      return;
    }
    queued = bitmap;
    raf = requestAnimationFrame(() => {
      raf = 0;
      queued = null;
      const t1 = performance.now();
      // quality="auto" may send fewer pixels (full_width/full_height say how many were meant): draw them at
      // full size, so the picture, the pointer mapping and the layout do not change with the level.
      const w = Number(header.full_width) || Number(header.width) || bitmap.width;
      const h = Number(header.full_height) || Number(header.height) || bitmap.height;
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w; // resizing clears the canvas, so only when the size really changes
        canvas.height = h;
      }
      ctx2d.drawImage(bitmap, 0, 0, w, h);
      bitmap.close();
      const resized = !shownHeader || shownHeader.width !== header.width || shownHeader.height !== header.height;
      shownHeader = header;
      shownBytes = bytes.byteLength;
      if (resized) applySize();
      plan.delivered();
      pull.painted(id, { decode_ms: decodeMs, paint_ms: performance.now() - t1 });
      root.dataset.livecamPainted = String(pull.stats.painted);
    });
  }

  /** (Re)start from the model: new URL, transport choice, or the widget was closed. */
  function start() {
    dropConnection();
    loop?.dispose();
    plan = new TransportPlan(model.get("transport") || "auto", candidates());
    loop = new PullLoop({
      send: (text) => conn?.send(text),
      scheduleReconnect: (ms) => {
        reconnectTimer = setTimeout(() => {
          reconnectTimer = 0;
          connect();
        }, ms);
      },
      scheduleWake: (ms) => {
        clearTimeout(wakeTimer);
        wakeTimer = setTimeout(() => loop.wake(), ms);
      },
      onState: show,
      now: () => performance.now(),
      visible: visible(),
    });
    loop.setPaused(root.dataset.livecamPaused === "1"); // a reconnect keeps this view's pause
    show(loop.state, loop.detail);
    if (model.get("_closed")) loop.dispose();
    else if (model.get("_token")) connect();
    // No token yet means "no stream yet": stay in `connecting` until one is set.
  }

  // The standalone page (`livecam serve`) has a read-only model: there the overlay is this view's own.
  const syncedModel = typeof model.set === "function";
  let localOverlay = false;
  const overlayOn = () => (syncedModel ? Boolean(model.get("overlay")) : localOverlay);

  function drawOverlay() {
    const shown = overlayOn();
    root.classList.toggle("livecam-with-overlay", shown);
    if (!shown) return;
    overlay.textContent = overlayLines({
      fps: loop.fps,
      server: loop.serverStats,
      header: shownHeader,
      bytes: shownBytes,
      transport: plan?.current ?? null,
    }).join("\n");
  }

  function onOverlayChange() {
    clearInterval(overlayTimer);
    overlayTimer = overlayOn() ? setInterval(drawOverlay, 500) : 0;
    drawOverlay();
  }

  /**
   * The picture's CSS size; the canvas itself always holds the frame's own pixels (crisp on HiDPI).
   * 1:1 is one frame pixel per device pixel, so nothing is resampled; otherwise the width/height traits
   * bound it (aspect kept) and the stylesheet's max-width shrinks it with its cell.
   */
  function applySize() {
    if (root.dataset.livecamFit === "native") {
      canvas.style.width = `${canvas.width / (window.devicePixelRatio || 1)}px`;
      return;
    }
    const [fw, fh] = shownHeader ? [canvas.width, canvas.height] : [0, 0];
    const w = fitWidth(fw, fh, Number(model.get("width")) || 0, Number(model.get("height")) || 0);
    canvas.style.width = w === null ? "" : `${w}px`;
  }

  /** @param {import("./pull.js").ViewAction} action */
  function act(action) {
    if (action === "pause") {
      const paused = root.dataset.livecamPaused !== "1";
      root.dataset.livecamPaused = paused ? "1" : "0";
      controls.querySelector('[data-livecam-control="pause"]')?.replaceChildren(paused ? "▶" : "❚❚");
      loop.setPaused(paused);
    } else if (action === "snapshot") {
      livecamDownloadPng(canvas, `livecam-${shownHeader?.seq ?? 0}.png`);
    } else if (action === "fullscreen") {
      if (document.fullscreenElement === root) void document.exitFullscreen();
      else void root.requestFullscreen?.().catch(() => {});
    } else if (action === "native") {
      const native = root.dataset.livecamFit !== "native";
      root.dataset.livecamFit = native ? "native" : "fit";
      applySize();
    } else if (action === "overlay" && syncedModel) {
      model.set("overlay", !model.get("overlay"));
      model.save_changes();
    } else if (action === "overlay") {
      localOverlay = !localOverlay;
      onOverlayChange();
    }
  }

  for (const [action, label, title] of LIVECAM_CONTROLS) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "livecam-button";
    button.dataset.livecamControl = action;
    button.title = title;
    button.textContent = label;
    button.addEventListener("click", (ev) => {
      ev.stopPropagation();
      act(action);
    });
    controls.append(button);
  }

  /** @type {{x: number, y: number, button: number, id: number} | null} where the current press started */
  let press = null;

  /** @param {PointerEvent} ev @returns {[number, number] | null} in source frame pixels */
  function toFrame(ev) {
    const rect = canvas.getBoundingClientRect();
    const x = Math.min(Math.max(ev.clientX - rect.left, 0), rect.width);
    const y = Math.min(Math.max(ev.clientY - rect.top, 0), rect.height);
    const w = Number(shownHeader?.source_width ?? shownHeader?.width) || 0;
    const h = Number(shownHeader?.source_height ?? shownHeader?.height) || 0;
    return framePoint(x, y, rect.width, rect.height, w, h);
  }

  canvas.addEventListener("pointerdown", (ev) => {
    press = { x: ev.clientX, y: ev.clientY, button: ev.button, id: ev.pointerId };
    canvas.setPointerCapture?.(ev.pointerId); // a drag that leaves the picture still ends here
  });
  canvas.addEventListener("pointerup", (ev) => {
    const start = press;
    press = null;
    if (!start || start.id !== ev.pointerId || !shownHeader) return;
    const from = toFrame(/** @type {PointerEvent} */ ({ clientX: start.x, clientY: start.y }));
    const to = toFrame(ev);
    if (!from || !to) return;
    const button = Math.min(Math.max(start.button, 0), 4);
    const moved = Math.hypot(ev.clientX - start.x, ev.clientY - start.y);
    if (moved < LIVECAM_DRAG_MIN_PX) loop.pointer({ event: "click", x: from[0], y: from[1], button });
    else loop.pointer({ event: "drag", x0: from[0], y0: from[1], x1: to[0], y1: to[1], button });
  });
  canvas.addEventListener("pointercancel", () => {
    press = null;
  });

  // Capture phase on window: runs before JupyterLab's own (document, capture) shortcut handling, so a key
  // the view handles (e.g. "1") does not also change the cell. Only our keys, only while we have focus.
  /** @param {KeyboardEvent} ev */
  const onKey = (ev) => {
    const target = /** @type {Node | null} */ (ev.target);
    if (!target || !root.contains(target) || target instanceof HTMLButtonElement) return;
    const action = keyAction(ev);
    if (!action) return;
    ev.preventDefault();
    ev.stopPropagation();
    act(action);
  };
  window.addEventListener("keydown", onKey, true);

  const onVisibility = () => loop.setVisible(visible());
  const observer = new IntersectionObserver((entries) => {
    inView = entries[entries.length - 1].isIntersecting;
    onVisibility();
  });
  observer.observe(root);
  document.addEventListener("visibilitychange", onVisibility);
  const events = ["change:_url", "change:_closed", "change:transport"];
  for (const name of events) model.on(name, start);
  model.on("change:overlay", onOverlayChange);
  for (const name of ["change:width", "change:height"]) model.on(name, applySize);
  start();
  onOverlayChange();
  applySize();

  return () => {
    for (const name of events) model.off(name, start);
    model.off("change:overlay", onOverlayChange);
    for (const name of ["change:width", "change:height"]) model.off(name, applySize);
    clearInterval(overlayTimer);
    window.removeEventListener("keydown", onKey, true);
    document.removeEventListener("visibilitychange", onVisibility);
    observer.disconnect();
    dropConnection();
    loop.dispose();
  };
}

export default { render };
