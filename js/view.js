import {
  badgeMode,
  badgeText,
  badgeVisibility,
  closedOverlayLines,
  fitWidth,
  framePoint,
  keyAction,
  overlayLines,
  PIPELINE_DEPTH,
  Headroom,
  PaintGate,
  PullLoop,
  TransportPlan,
} from "./pull.js";
import { BrowserCamera, rememberCamera } from "./camera.js";
import { CommRouter } from "./router.js";
import { jupyterBaseUrl, openTransport, transportCandidates } from "./transports.js";
import { VIDEO_MIME, VideoOffer, VideoPipe, videoSupport } from "./video.js";

// One view of a LiveFrame: a canvas, a status badge, hover controls, an optional stats overlay. Pacing and
// state live in PullLoop, the choice of transport in TransportPlan (pull.js), connections in transports.js;
// this file wires them to the DOM. The streaming path never depends on the kernel's main thread except on
// the comm transport, the last resort.

/**
 * The anywidget model as a view uses it. The standalone page's stand-in has only `get`, `on` and `off`: no
 * `send` (so no comm transport) and no `set` (so the overlay toggle stays local to the view).
 * @typedef {object} ViewModel
 * @property {(name: string) => any} get
 * @property {(name: string, callback: (...args: any[]) => void) => void} on
 * @property {(name: string, callback: (...args: any[]) => void) => void} off
 * @property {(content: Record<string, unknown>) => void} [send]
 * @property {(name: string, value: unknown) => void} [set]
 * @property {() => void} [save_changes]
 */

/**
 * A decoded frame waiting to be drawn (see PaintGate).
 * @typedef {object} DecodedFrame
 * @property {ImageBitmap | VideoFrame} bitmap  an image's bitmap or a video frame's picture (both close())
 * @property {any} header
 * @property {number} id  the frame's id in `pull`
 * @property {PullLoop} pull  the loop that received it
 * @property {number} bytes  its encoded size
 * @property {import("./pull.js").TransportName} kind  the transport it came by
 * @property {number} decodeMs
 */

/**
 * What the view hands its VideoPipe along with a video frame, to queue its picture like a bitmap.
 * @typedef {object} VideoMeta
 * @property {PullLoop} pull  the loop that received it
 * @property {number} serial  the connection it came on
 * @property {number} bytes  its encoded size
 * @property {import("./pull.js").TransportName} kind  the transport it came by
 */

/** A press that moves less than this (CSS px) before release is a click, else a drag. */
const DRAG_MIN_PX = 4;

/** Hover controls: action, label, tooltip (the key in brackets). */
const CONTROLS = /** @type {const} */ ([
  ["pause", "❚❚", "pause / resume this view [space]"],
  ["snapshot", "⤓", "save the frame on screen as PNG [s]"],
  ["fullscreen", "⤢", "fullscreen [f]"],
  ["native", "1:1", "1:1 pixels / fit to width [1]"],
  ["overlay", "i", "stats overlay [i]"],
]);

/** Server messages about the browser camera (the hello says whether the source is the browser; a status says
 * when the widget is paused, which turns the camera off). */
const CAMERA_TEXT = /^\{"type": "(hello|camera|capture|status)"/;

/** The camera button's tooltip per role of this view. */
const CAMERA_TITLES = /** @type {const} */ ({
  capturing: "this view captures with this browser's camera",
  watching: "use this browser's camera here (another view captures now)",
  free: "start this browser's camera",
  refused: "the camera was refused or failed: allow it for this page in the browser, then press here",
  off: "the widget is closed",
});

/** Model changes that restart the view's stream: a new URL, the widget closed, another transport. */
const RESTART_ON = ["change:_url", "change:_closed", "change:transport"];
const RESIZE_ON = ["change:width", "change:height"];

/**
 * Save the canvas as a PNG download: the exact pixels on screen (the canvas is frame-sized).
 * @param {HTMLCanvasElement} canvas @param {string} name
 */
function downloadPng(canvas, name) {
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
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {string} className
 * @returns {HTMLElementTagNameMap[K]}
 */
function element(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

/**
 * A live view. Its state is its fields; `close()` undoes everything the constructor set up (anywidget calls
 * it through `render`'s cleanup when the output goes away or the module reloads).
 */
export class LiveView {
  /**
   * @param {ViewModel} model
   * @param {HTMLElement} el  the element anywidget gives this view
   * @param {() => CommRouter | null} sharedRouter  the model's router from `initialize`, if this view can
   *   tell it (see RouterRegistry)
   */
  constructor(model, el, sharedRouter) {
    this.model = model;
    this.el = el;
    this._sharedRouter = sharedRouter;
    /** @type {CommRouter | null} made by this view when there is no shared router; closed with the view */
    this._ownRouter = null;

    this.root = element("div", "livecam");
    this.root.tabIndex = 0; // focusable, so its keyboard shortcuts apply only when the user picked this view
    this.root.dataset.livecamFit = "fit";
    this.canvas = element("canvas", "livecam-canvas");
    this.badge = element("div", "livecam-status");
    this.overlay = element("pre", "livecam-overlay");
    this.controls = element("div", "livecam-controls");
    // Badge and controls share one wrapping row over the picture's top edge: a long error text pushes the
    // controls onto the next line instead of running under them (see .livecam-bar in widget.css).
    const bar = element("div", "livecam-bar");
    bar.append(this.badge, this.controls);
    this.root.append(this.canvas, bar, this.overlay);
    el.append(this.root);
    this.ctx2d = /** @type {CanvasRenderingContext2D} */ (this.canvas.getContext("2d"));

    /** @type {any} header of the frame on screen */
    this.shownHeader = null;
    this.shownBytes = 0;
    this.inView = true; // until the IntersectionObserver reports otherwise
    /** @type {import("./transports.js").Connection | null} */
    this.conn = null;
    this.connSerial = 0; // which connection a late event belongs to
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reconnectTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.wakeTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.overlayTimer = undefined;
    this.raf = 0;
    /** @type {DecodedFrame[]} decoded, waiting to be drawn, oldest first (at most the pipeline's depth:
     * frames are asked for only as others are painted) */
    this.decoded = [];
    this.gate = new PaintGate(); // when to draw them
    this.headroom = new Headroom(); // whether a second frame may travel while one decodes
    /** @type {import("./pull.js").LoopState} what the badge says (set by `show`) */
    this.state = "connecting";
    /** @type {number | null} when (performance.now()) this view went live with a picture; null: it is not */
    this.liveSince = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} re-evaluates the badge when "auto" fades it */
    this.badgeTimer = undefined;
    /** @type {import("./pull.js").TransportName | null} the transport that brought the frame on screen; it
     * outlives restarts, since the frame does (a closed view's plan names a transport it never used) */
    this.shownVia = null;
    /** @type {{x: number, y: number, button: number, id: number} | null} where the current press started */
    this.press = null;
    // The standalone page (`livecam serve`) has a read-only model: there the overlay is this view's own.
    this.syncedModel = typeof model.set === "function";
    this.localOverlay = false;
    /** H.264: offered on each connection when this page can decode it (video.js) */
    this.videoOffer = new VideoOffer(videoSupport());
    this.video = this._newVideo();
    this.plan = this._newPlan();
    this.loop = this._newLoop();
    /** @type {BrowserCamera | null} this view's camera, for a widget whose source is the browser */
    this.camera = null;
    /** this view's camera failed (e.g. permission denied): it stops offering itself until its button is pressed */
    this.cameraRefused = false;
    /** @type {HTMLSelectElement | null} */
    this.cameraSelect = null;
    this.cameraCapturing = false; // the kernel says this view captures
    this.cameraPaused = false; // the widget is paused (lf.stop()): the camera is off meanwhile
    /** @type {PermissionStatus | null} watched after a refusal */
    this.permissionWatch = null;

    for (const [action, label, title] of CONTROLS) this._addControl(action, label, title);
    this.canvas.addEventListener("pointerdown", this.onPointerDown);
    this.canvas.addEventListener("pointerup", this.onPointerUp);
    this.canvas.addEventListener("pointercancel", this.onPointerCancel);
    // Capture phase on window: runs before JupyterLab's own (document, capture) shortcut handling, so a key
    // the view handles (e.g. "1") does not also change the cell. Only our keys, only while we have focus.
    window.addEventListener("keydown", this.onKey, true);
    this.observer = new IntersectionObserver((entries) => {
      this.inView = entries[entries.length - 1].isIntersecting;
      this.onVisibility();
    });
    this.observer.observe(this.root);
    document.addEventListener("visibilitychange", this.onVisibility);
    for (const name of RESTART_ON) model.on(name, this.start);
    model.on("change:overlay", this.onOverlayChange);
    model.on("change:badge", this.updateBadge);
    for (const name of RESIZE_ON) model.on(name, this.applySize);
    this._begin();
    this.onOverlayChange();
    this.applySize();
  }

  /** Undo the constructor: listeners, timers, the connection, the loop. */
  close() {
    for (const name of RESTART_ON) this.model.off(name, this.start);
    this.model.off("change:overlay", this.onOverlayChange);
    this.model.off("change:badge", this.updateBadge);
    for (const name of RESIZE_ON) this.model.off(name, this.applySize);
    clearInterval(this.overlayTimer);
    clearTimeout(this.badgeTimer);
    window.removeEventListener("keydown", this.onKey, true);
    document.removeEventListener("visibilitychange", this.onVisibility);
    this.observer.disconnect();
    this.dropConnection();
    this.loop.dispose();
    this.camera?.close();
    this.camera = null;
    if (this.permissionWatch) this.permissionWatch.onchange = null;
    this._ownRouter?.close();
    this._ownRouter = null;
  }

  /** @returns {boolean} on screen: in the viewport and the tab not hidden */
  visible() {
    return this.inView && document.visibilityState !== "hidden";
  }

  /** @param {import("./pull.js").LoopState} state @param {string | null} detail */
  show = (state, detail) => {
    // On both the view's element and the container, so tests can find it either way; whatever the badge
    // mode, these always tell the state.
    this.root.dataset.livecamState = this.el.dataset.livecamState = state;
    this.badge.textContent = badgeText(state, detail, this.plan.current);
    this.badge.classList.toggle("livecam-error", state === "error");
    if (state !== this.state) this.liveSince = null; // "auto" counts its fade from each return to live
    this.state = state;
    this._markLive();
    this.updateBadge();
    this.drawOverlay(); // a closed view drops its rates at once, not at the next overlay tick
  };

  /** Start the "auto" fade's clock once the view is live with a picture on screen. */
  _markLive() {
    if (this.state === "live" && this.shownHeader && this.liveSince === null) this.liveSince = performance.now();
  }

  /** Show or hide the badge for the state, the `badge` trait and the time live; rearm the fade timer. */
  updateBadge = () => {
    clearTimeout(this.badgeTimer);
    this.badgeTimer = undefined;
    const since = this.liveSince === null ? null : performance.now() - this.liveSince;
    const { shown, recheckMs } = badgeVisibility(this.state, badgeMode(this.model.get("badge")), since);
    this.badge.classList.toggle("livecam-badge-hidden", !shown);
    this.root.dataset.livecamBadge = shown ? "shown" : "hidden";
    if (recheckMs !== null) this.badgeTimer = setTimeout(this.updateBadge, recheckMs);
  };

  /** Forget the current connection and anything in flight for it, without telling the loop. */
  dropConnection() {
    clearTimeout(this.reconnectTimer);
    clearTimeout(this.wakeTimer);
    cancelAnimationFrame(this.raf);
    this.reconnectTimer = this.wakeTimer = undefined;
    this.raf = 0;
    for (const frame of this.decoded.splice(0)) frame.bitmap.close();
    this.video.reset();
    this.connSerial++;
    this.conn?.close();
    this.conn = null;
  }

  /** @returns {CommRouter} the model's router if this view can tell it, else one of its own */
  commRouter() {
    if (this._ownRouter) return this._ownRouter;
    return this._sharedRouter() ?? (this._ownRouter = new CommRouter(this.model));
  }

  /** A PullLoop whose I/O is this view's connection, timers and badge. */
  _newLoop() {
    const loop = new PullLoop({
      send: (text) => this.conn?.send(text),
      scheduleReconnect: (ms) => {
        this.reconnectTimer = setTimeout(() => {
          this.reconnectTimer = undefined;
          this.connect();
        }, ms);
      },
      scheduleWake: (ms) => {
        clearTimeout(this.wakeTimer);
        this.wakeTimer = setTimeout(() => this.loop.wake(), ms);
      },
      // Only the current loop speaks for the view: a loop replaced by `start()` says "closed" as it is
      // disposed, which is not true of the view (it is starting over), and would flash a closed badge.
      onState: (state, detail) => {
        if (this.loop === loop) this.show(state, detail);
      },
      now: () => performance.now(),
      visible: this.visible(),
    });
    return loop;
  }

  /** @returns {VideoPipe<VideoMeta>} this view's H.264 decoder; its pictures join `decoded` like bitmaps */
  _newVideo() {
    /** @type {VideoPipe<VideoMeta>} */
    const video = new VideoPipe({
      Decoder: globalThis.VideoDecoder,
      Chunk: globalThis.EncodedVideoChunk,
      output: (picture, { id, header, meta }, decodeMs) => {
        const { pull, serial, bytes, kind } = meta;
        this.queueDecoded(serial, { bitmap: picture, header, id, pull, bytes, kind, decodeMs });
      },
      skipped: ({ id, meta }) => meta.pull.skipped(id),
      // The pipe is reset with every connection (and so with every loop): its frames are the current loop's.
      requestKey: () => this.loop.requestKey(),
      narrow: (reason) => this.videoOffer.narrow(reason, (text) => this.conn?.send(text)),
      withdraw: (reason) => this.videoOffer.withdraw(reason, (text) => this.conn?.send(text)),
      now: () => performance.now(),
    });
    return video;
  }

  /** @returns {TransportPlan} the transports to try, from the model's `transport` and what this page offers */
  _newPlan() {
    const choice = this.model.get("transport") || "auto";
    // Left to choose, a view skips a direct socket that cannot reach the kernel from where it runs.
    const available = transportCandidates(this.model, jupyterBaseUrl(), choice === "auto" ? location : null);
    return new TransportPlan(choice, available);
  }

  /** Start over from the model: new URL, transport choice, or the widget was closed. */
  start = () => {
    this.dropConnection();
    const old = this.loop;
    this.plan = this._newPlan();
    this.loop = this._newLoop();
    old.dispose(); // silently: it is no longer this view's loop
    this._begin();
  };

  /** Show the fresh loop's state and connect, unless there is nothing (yet, or any more) to connect to. */
  _begin() {
    this.loop.setPaused(this.root.dataset.livecamPaused === "1"); // a reconnect keeps this view's pause
    const closed = Boolean(this.model.get("_closed"));
    if (closed) {
      this.loop.dispose(); // straight to "closed", without a "connecting" in between
      this._cameraOff();
    }
    this.show(this.loop.state, this.loop.detail);
    if (!closed && this.model.get("_token")) this.connect();
    // No token yet means "no stream yet": stay in `connecting` until one is set.
  }

  /** Open the plan's current transport; its events reach the loop only while it is the current one. */
  connect() {
    const kind = this.plan.current;
    if (!kind) return this.show("error", "no transport can reach the kernel from this page");
    this.root.dataset.livecamTransport = kind;
    const serial = ++this.connSerial;
    const mine = () => serial === this.connSerial;
    const loop = this.loop;
    loop.setDepth(PIPELINE_DEPTH[kind]);
    this.headroom = new Headroom();
    this.video.reset(); // a new connection's first video frame is a keyframe
    this.conn = openTransport(
      kind,
      { model: this.model, page: location, baseUrl: jupyterBaseUrl(), router: () => this.commRouter() },
      {
        open: () => {
          if (!mine()) return;
          // Before the first grant if the probe has answered, so that grant can already bring video.
          this.videoOffer.opened((text) => this.conn?.send(text), mine);
          loop.opened();
        },
        text: (text) => {
          if (!mine()) return;
          if (CAMERA_TEXT.test(text)) this.onCameraText(text);
          loop.text(text);
        },
        frame: (header, bytes, error) => {
          if (!mine()) return;
          if (bytes) void this.showFrame(serial, header, bytes, kind);
          else loop.failed(loop.frame(null), error ?? "unreadable frame");
        },
        close: (code) => {
          if (!mine()) return;
          this.conn = null;
          this.connSerial++;
          this.video.reset();
          if (code !== 1001) this.plan.failed();
          else this._cameraOff(); // the widget closed: nothing will ask for camera frames again
          loop.closed(code);
        },
      },
    );
  }

  /**
   * @param {number} serial @param {any} header @param {Uint8Array} bytes
   * @param {import("./pull.js").TransportName} kind  the transport it came by
   */
  async showFrame(serial, header, bytes, kind) {
    // Bound now: after a URL change `this.loop` is a new PullLoop whose frame ids restart at 1.
    const pull = this.loop;
    const id = pull.frame(header);
    if (header.mime === VIDEO_MIME) {
      // Decoded now, in the order frames arrive, even one whose picture will not be painted: the decoder's
      // state depends on every frame of its chain. Its picture comes back through queueDecoded.
      if (id) this.video.decode(id, header, bytes, { pull, serial, bytes: bytes.byteLength, kind });
      return;
    }
    const t0 = performance.now();
    let bitmap;
    try {
      bitmap = await createImageBitmap(new Blob([bytes], { type: header.mime }));
    } catch (e) {
      pull.failed(id, `cannot decode frame ${header.seq} (${header.mime}): ${/** @type {Error} */ (e).message}`);
      return;
    }
    const decodeMs = performance.now() - t0;
    this.queueDecoded(serial, { bitmap, header, id, pull, bytes: bytes.byteLength, kind, decodeMs });
  }

  /**
   * A frame is decoded (an image's bitmap or a video frame's picture): queue it for painting, or close it.
   * @param {number} serial  the connection it came on @param {DecodedFrame} frame
   */
  queueDecoded(serial, frame) {
    const { id, pull } = frame;
    // Gone: the connection changed while decoding, or a newer frame was painted first (pipeline depth 2).
    if (serial !== this.connSerial || !pull.wants(id)) {
      frame.bitmap.close();
      return;
    }
    // Drawn now unless the picture drawn last is not on screen yet (PaintGate in pull.js); then one per
    // animation frame, in order, so a view at depth 2 shows nearly every frame it asked for (paintStep skips
    // one only to drain a standing queue).
    const later = this.decoded.findIndex((f) => f.id > id);
    this.decoded.splice(later < 0 ? this.decoded.length : later, 0, frame);
    this.paintIf(this.gate.decoded(this.decoded.length));
  }

  /** An animation frame's callback, before its rendering: it shows what was drawn since the last one. */
  onAnimationFrame = () => {
    this.raf = 0;
    this.paintIf(this.gate.animationFrame(this.decoded.length));
  };

  /**
   * Draw the oldest decoded frame if the gate says so and tell its loop; keep an animation frame requested
   * while the gate needs one.
   * @param {{draw: boolean, skip: boolean}} step
   */
  paintIf(step) {
    if (step.draw) {
      if (step.skip) this.decoded.shift()?.bitmap.close();
      const frame = this.decoded.shift();
      if (frame) this.paintFrame(frame);
    }
    if (!this.raf && this.gate.wantsAnimationFrame(this.decoded.length)) {
      this.raf = requestAnimationFrame(this.onAnimationFrame);
    }
  }

  /** @param {DecodedFrame} frame */
  paintFrame(frame) {
    const { pull } = frame;
    const t1 = performance.now();
    this.paint(frame.bitmap, frame.header);
    this.shownBytes = frame.bytes;
    this.shownVia = frame.kind;
    this.plan.delivered();
    const t2 = performance.now();
    // Where the page has time to spare, a second frame travels while this one decodes (Headroom, pull.js).
    const spare = this.headroom.painted(frame.decodeMs + (t2 - t1), t2);
    pull.setDepth(Math.max(PIPELINE_DEPTH[frame.kind], spare ? 2 : 1));
    pull.painted(frame.id, { decode_ms: frame.decodeMs, paint_ms: t2 - t1 });
    this.root.dataset.livecamPainted = String(pull.stats.painted);
    if (this.liveSince === null && this.state === "live") {
      this._markLive();
      this.updateBadge();
    }
  }

  /**
   * Draw a decoded frame (and close it). quality="auto" may send fewer pixels (full_width/full_height say how
   * many were meant): draw them at full size, so the picture, the pointer mapping and the layout do not change
   * with the level.
   * @param {ImageBitmap | VideoFrame} bitmap @param {any} header
   */
  paint(bitmap, header) {
    const { canvas } = this;
    // A VideoFrame has no width/height of its own: its display size is the picture's.
    const own = "displayWidth" in bitmap ? { width: bitmap.displayWidth, height: bitmap.displayHeight } : bitmap;
    const w = Number(header.full_width) || Number(header.width) || own.width;
    const h = Number(header.full_height) || Number(header.height) || own.height;
    if (canvas.width !== w || canvas.height !== h) {
      canvas.width = w; // resizing clears the canvas, so only when the size really changes
      canvas.height = h;
    }
    this.ctx2d.drawImage(bitmap, 0, 0, w, h);
    bitmap.close();
    const shown = this.shownHeader;
    const resized = !shown || shown.width !== header.width || shown.height !== header.height;
    this.shownHeader = header;
    if (resized) this.applySize();
  }

  /**
   * A server message for the browser camera: the hello (is the source the browser?), this view's role, or a
   * request for a frame. See camera.js.
   * @param {string} text
   */
  onCameraText(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    if (msg.type === "hello") {
      if (msg.camera && !this.camera) this._setUpCamera(msg.camera);
      if (this.camera) this.camera.pending = null; // requests of an earlier connection are void
      this.cameraPaused = msg.state === "paused";
    } else if (!this.camera) {
      return;
    } else if (msg.type === "status") {
      // lf.stop() pauses the widget: nothing is asked of the camera, so its light goes off until lf.start().
      this.cameraPaused = msg.state === "paused";
      if (this.cameraPaused) this.camera.stopStream();
      else if (this.cameraCapturing) void this.camera.start();
    } else if (msg.type === "camera") {
      this.cameraCapturing = Boolean(msg.capturing);
      const role = msg.capturing ? "capturing" : msg.taken ? "watching" : "free";
      this._cameraRole(!msg.capturing && this.cameraRefused ? "refused" : role);
      if (msg.capturing) {
        if (!this.cameraPaused) void this.camera.start();
      } else {
        if (this.camera.on) this.camera.stopStream();
        if (!msg.taken && !this.cameraRefused) this.conn?.send(JSON.stringify({ type: "camera_claim", auto: true }));
      }
    } else if (msg.type === "capture" && Number.isInteger(msg.ask)) {
      this.camera.request(msg.ask);
    }
  }

  /** Stop this view's camera (its light goes off) for good: the widget is closed. */
  _cameraOff() {
    if (!this.camera) return;
    this.camera.stopStream();
    this.cameraCapturing = false;
    this._cameraRole("off");
  }

  /** @param {keyof typeof CAMERA_TITLES} role  on the view (data-livecam-camera) and in the button's tooltip */
  _cameraRole(role) {
    this.root.dataset.livecamCamera = role;
    const button = this.controls.querySelector('[data-livecam-control="camera"]');
    if (button instanceof HTMLElement) button.title = CAMERA_TITLES[role];
  }

  /** After a refusal: when the user allows the camera for the page, this view offers it again by itself. */
  _watchPermission() {
    const permissions = globalThis.navigator?.permissions;
    if (!permissions?.query || this.permissionWatch) return;
    permissions
      .query({ name: /** @type {PermissionName} */ ("camera") })
      .then((status) => {
        this.permissionWatch = status;
        status.onchange = () => {
          if (status.state !== "granted" || !this.cameraRefused) return;
          this.cameraRefused = false;
          this.conn?.send(JSON.stringify({ type: "camera_claim", auto: false }));
        };
      })
      .catch(() => {}); // a browser that cannot tell: the button still works
  }

  /** @param {{width: number, height: number, fps: number}} wish */
  _setUpCamera(wish) {
    this.camera = new BrowserCamera(wish, {
      send: (data) => this.conn?.sendBinary(data),
      failed: (problem) => {
        this.cameraRefused = true;
        this._cameraRole("refused");
        this.conn?.send(JSON.stringify({ type: "camera_error", ...problem }));
        if (problem.name === "NotAllowedError") this._watchPermission();
      },
      started: () => void this._listCameras(),
    });
    this._addControl("camera", "◉", CAMERA_TITLES.free);
    const select = element("select", "livecam-camera-select");
    select.title = "which camera";
    select.hidden = true;
    select.addEventListener("change", () => {
      rememberCamera(select.value);
      this.camera?.start(select.value || null);
    });
    this.controls.append(select);
    this.cameraSelect = select;
  }

  /** Fill the camera menu (labels are known once the camera is allowed); shown when there is a choice. */
  async _listCameras() {
    const camera = this.camera;
    const select = this.cameraSelect;
    if (!camera || !select) return;
    const cameras = await camera.cameras();
    const current = camera.stream?.getVideoTracks()[0]?.getSettings().deviceId ?? camera.deviceId;
    select.replaceChildren(
      ...cameras.map(({ deviceId, label }) => {
        const option = element("option", "");
        option.value = deviceId;
        option.textContent = label;
        option.selected = deviceId === current;
        return option;
      }),
    );
    select.hidden = cameras.length < 2;
  }

  /** @returns {boolean} whether the stats overlay is on for this view */
  overlayOn() {
    return this.syncedModel ? Boolean(this.model.get("overlay")) : this.localOverlay;
  }

  drawOverlay = () => {
    const shown = this.overlayOn();
    this.root.classList.toggle("livecam-with-overlay", shown);
    if (!shown) return;
    const frame = { header: this.shownHeader, bytes: this.shownBytes };
    const lines =
      this.state === "closed"
        ? closedOverlayLines({ ...frame, via: this.shownVia })
        : overlayLines({
            ...frame,
            fps: this.loop.fps,
            server: this.loop.serverStats,
            transport: this.plan.current,
            videoUnavailable: this.videoOffer.unavailable,
          });
    this.overlay.textContent = lines.join("\n");
  };

  onOverlayChange = () => {
    clearInterval(this.overlayTimer);
    this.overlayTimer = this.overlayOn() ? setInterval(this.drawOverlay, 500) : undefined;
    this.drawOverlay();
  };

  /**
   * The picture's CSS size; the canvas itself always holds the frame's own pixels (crisp on HiDPI).
   * 1:1 is one frame pixel per device pixel, so nothing is resampled; otherwise the width/height traits
   * bound it (aspect kept) and the stylesheet's max-width shrinks it with its cell.
   */
  applySize = () => {
    const { canvas } = this;
    if (this.root.dataset.livecamFit === "native") {
      canvas.style.width = `${canvas.width / (window.devicePixelRatio || 1)}px`;
      return;
    }
    const [fw, fh] = this.shownHeader ? [canvas.width, canvas.height] : [0, 0];
    const w = fitWidth(fw, fh, Number(this.model.get("width")) || 0, Number(this.model.get("height")) || 0);
    canvas.style.width = w === null ? "" : `${w}px`;
  };

  /** @param {import("./pull.js").ViewAction} action */
  act(action) {
    const { root, model } = this;
    // A closed view keeps its last frame (snapshot, fullscreen, 1:1, overlay still apply), but there is
    // nothing left to pause or capture for.
    if (this.state === "closed" && (action === "pause" || action === "camera")) return;
    if (action === "pause") {
      const paused = root.dataset.livecamPaused !== "1";
      root.dataset.livecamPaused = paused ? "1" : "0";
      this.controls.querySelector('[data-livecam-control="pause"]')?.replaceChildren(paused ? "▶" : "❚❚");
      this.loop.setPaused(paused);
    } else if (action === "snapshot") {
      downloadPng(this.canvas, `livecam-${this.shownHeader?.seq ?? 0}.png`);
    } else if (action === "fullscreen") {
      if (document.fullscreenElement === root) void document.exitFullscreen();
      else void root.requestFullscreen?.().catch(() => {});
    } else if (action === "native") {
      root.dataset.livecamFit = root.dataset.livecamFit !== "native" ? "native" : "fit";
      this.applySize();
    } else if (action === "overlay" && this.syncedModel) {
      model.set?.("overlay", !model.get("overlay"));
      model.save_changes?.();
    } else if (action === "overlay") {
      this.localOverlay = !this.localOverlay;
      this.onOverlayChange();
    } else if (action === "camera" && this.camera) {
      this.cameraRefused = false; // the user asks again: the browser may ask for permission again
      this.conn?.send(JSON.stringify({ type: "camera_claim", auto: false }));
    }
  }

  /** @param {import("./pull.js").ViewAction} action @param {string} label @param {string} title */
  _addControl(action, label, title) {
    const button = element("button", "livecam-button");
    button.type = "button";
    button.dataset.livecamControl = action;
    button.title = title;
    button.textContent = label;
    button.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.act(action);
    });
    this.controls.append(button);
  }

  /**
   * @param {{clientX: number, clientY: number}} ev
   * @returns {[number, number] | null} in source frame pixels
   */
  toFrame(ev) {
    const rect = this.canvas.getBoundingClientRect();
    const x = Math.min(Math.max(ev.clientX - rect.left, 0), rect.width);
    const y = Math.min(Math.max(ev.clientY - rect.top, 0), rect.height);
    const header = this.shownHeader;
    const w = Number(header?.source_width ?? header?.width) || 0;
    const h = Number(header?.source_height ?? header?.height) || 0;
    return framePoint(x, y, rect.width, rect.height, w, h);
  }

  /** @param {PointerEvent} ev */
  onPointerDown = (ev) => {
    this.press = { x: ev.clientX, y: ev.clientY, button: ev.button, id: ev.pointerId };
    this.canvas.setPointerCapture?.(ev.pointerId); // a drag that leaves the picture still ends here
  };

  /** @param {PointerEvent} ev */
  onPointerUp = (ev) => {
    const start = this.press;
    this.press = null;
    if (!start || start.id !== ev.pointerId || !this.shownHeader) return;
    const from = this.toFrame({ clientX: start.x, clientY: start.y });
    const to = this.toFrame(ev);
    if (!from || !to) return;
    const button = Math.min(Math.max(start.button, 0), 4);
    const moved = Math.hypot(ev.clientX - start.x, ev.clientY - start.y);
    if (moved < DRAG_MIN_PX) this.loop.pointer({ event: "click", x: from[0], y: from[1], button });
    else this.loop.pointer({ event: "drag", x0: from[0], y0: from[1], x1: to[0], y1: to[1], button });
  };

  onPointerCancel = () => {
    this.press = null;
  };

  /** @param {KeyboardEvent} ev */
  onKey = (ev) => {
    const target = /** @type {Node | null} */ (ev.target);
    if (!target || !this.root.contains(target) || target instanceof HTMLButtonElement) return;
    const action = keyAction(ev);
    if (!action) return;
    ev.preventDefault();
    ev.stopPropagation();
    this.act(action);
  };

  onVisibility = () => this.loop.setVisible(this.visible());
}
