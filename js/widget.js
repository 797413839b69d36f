import { parseFrame, PullLoop } from "./pull.js";

// The anywidget view: one WebSocket per view, frames drawn on a canvas. Pacing and state live in
// PullLoop (pull.js); this file only does I/O. Nothing here talks to the kernel over the comm: the kernel
// may be busy running a cell, and the stream must not depend on it.

/** Badge text per state; the `error` state shows the server's (or decoder's) text instead. */
const LIVECAM_LABELS = {
  connecting: "connecting…",
  live: "live",
  paused: "paused",
  hidden: "hidden",
  closed: "closed",
};

/**
 * @param {{model: {get(name: string): any, on(name: string, cb: Function): void,
 *   off(name: string, cb: Function): void}, el: HTMLElement}} ctx
 */
function render({ model, el }) {
  const root = document.createElement("div");
  root.className = "livecam";
  const canvas = document.createElement("canvas");
  canvas.className = "livecam-canvas";
  const badge = document.createElement("div");
  badge.className = "livecam-status";
  root.append(canvas, badge);
  el.append(root);
  const ctx2d = /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d"));

  let inView = true; // until the IntersectionObserver reports otherwise
  /** @type {WebSocket | null} */
  let ws = null;
  let reconnectTimer = 0;
  let wakeTimer = 0;
  let raf = 0;
  /** @type {ImageBitmap | null} decoded, waiting for its animation frame */
  let queued = null;
  /** @type {PullLoop} */
  let loop;

  const visible = () => inView && document.visibilityState !== "hidden";

  /** @param {string} state @param {string | null} detail */
  function show(state, detail) {
    // On both the view's element and the container, so tests can find it either way.
    root.dataset.livecamState = el.dataset.livecamState = state;
    badge.textContent = state === "error" ? String(detail) : LIVECAM_LABELS[/** @type {"live"} */ (state)];
    badge.classList.toggle("livecam-error", state === "error");
  }

  /** Forget the current socket and anything in flight for it, without telling the loop. */
  function dropSocket() {
    clearTimeout(reconnectTimer);
    clearTimeout(wakeTimer);
    cancelAnimationFrame(raf);
    reconnectTimer = wakeTimer = raf = 0;
    queued?.close();
    queued = null;
    if (ws) {
      // Handlers go first: a close we asked for is not a reason to reconnect.
      ws.onopen = ws.onmessage = ws.onclose = null;
      ws.close(1000);
      ws = null;
    }
  }

  function openSocket() {
    let sock;
    try {
      sock = new WebSocket(model.get("_url"));
    } catch (e) {
      // A malformed URL will not get better by retrying.
      show("error", `invalid stream URL: ${/** @type {Error} */ (e).message}`);
      return;
    }
    ws = sock;
    sock.binaryType = "arraybuffer";
    sock.onopen = () => loop.opened();
    sock.onclose = (ev) => {
      ws = null;
      loop.closed(ev.code);
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data === "string") loop.text(ev.data);
      else void showFrame(sock, ev.data);
    };
  }

  /** @param {WebSocket} sock @param {ArrayBuffer} data */
  async function showFrame(sock, data) {
    // Bound now: after a URL change `loop` is a new PullLoop whose frame ids restart at 1.
    const pull = loop;
    let frame;
    try {
      frame = parseFrame(data);
    } catch (e) {
      pull.failed(pull.frame(null), /** @type {Error} */ (e).message);
      return;
    }
    const { header, bytes } = frame;
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
    if (sock !== ws) {
      bitmap.close(); // the socket went away while decoding; the loop has moved on
      return;
    }
    queued = bitmap;
    raf = requestAnimationFrame(() => {
      raf = 0;
      queued = null;
      const t1 = performance.now();
      const w = Number(header.width) || bitmap.width;
      const h = Number(header.height) || bitmap.height;
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w; // resizing clears the canvas, so only when the size really changes
        canvas.height = h;
      }
      ctx2d.drawImage(bitmap, 0, 0, w, h);
      bitmap.close();
      pull.painted(id, { decode_ms: decodeMs, paint_ms: performance.now() - t1 });
      root.dataset.livecamPainted = String(pull.stats.painted);
    });
  }

  /** (Re)start from the model: new URL, or the widget was closed. */
  function start() {
    dropSocket();
    loop?.dispose();
    loop = new PullLoop({
      send: (text) => ws?.send(text),
      scheduleReconnect: (ms) => {
        reconnectTimer = setTimeout(() => {
          reconnectTimer = 0;
          openSocket();
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
    show(loop.state, loop.detail);
    if (model.get("_closed")) loop.dispose();
    else if (model.get("_url")) openSocket();
    // An empty URL means "no stream yet": stay in `connecting` until one is set.
  }

  const onVisibility = () => loop.setVisible(visible());
  const observer = new IntersectionObserver((entries) => {
    inView = entries[entries.length - 1].isIntersecting;
    onVisibility();
  });
  observer.observe(root);
  document.addEventListener("visibilitychange", onVisibility);
  model.on("change:_url", start);
  model.on("change:_closed", start);
  start();

  return () => {
    model.off("change:_url", start);
    model.off("change:_closed", start);
    document.removeEventListener("visibilitychange", onVisibility);
    observer.disconnect();
    dropSocket();
    loop.dispose();
  };
}

export default { render };
