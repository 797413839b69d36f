// Pure client logic for the livecam wire protocol (docs/protocol.md): no DOM, no sockets, no timers, so it
// runs and is tested in plain node. view.js wires it to a canvas and the page, transports.js to a WebSocket
// or the comm channel.
//
// The build joins the js/ modules into one (src/livecam_widget/_frontend.py), where every top-level name
// shares one scope: this file declares only its exported names at top level; anything else lives inside them.

/**
 * Split one binary frame message: uint32 big-endian N, N bytes of UTF-8 JSON header, image bytes.
 * @param {ArrayBuffer | ArrayBufferView} message
 * @returns {{header: {seq: number, rev?: number, mime: string, width?: number, height?: number,
 *   [k: string]: unknown}, bytes: Uint8Array}}
 */
export function parseFrame(message) {
  // Views are accepted too (node Buffers in tests); `bytes` stays a view, no copy of the image.
  const all = ArrayBuffer.isView(message)
    ? new Uint8Array(message.buffer, message.byteOffset, message.byteLength)
    : new Uint8Array(message);
  if (all.byteLength < 4) {
    throw new Error(`livecam frame truncated: ${all.byteLength} bytes, the 4-byte header length is missing`);
  }
  const n = new DataView(all.buffer, all.byteOffset, 4).getUint32(0, false);
  if (4 + n > all.byteLength) {
    throw new Error(`livecam frame truncated: header length ${n} but only ${all.byteLength - 4} bytes follow`);
  }
  let header;
  try {
    header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(all.subarray(4, 4 + n)));
  } catch (e) {
    throw new Error(`livecam frame header is not UTF-8 JSON: ${/** @type {Error} */ (e).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new Error("livecam frame header is not a JSON object");
  }
  if (!Number.isInteger(header.seq)) throw new Error('livecam frame header lacks an integer "seq"');
  if (typeof header.mime !== "string" || !header.mime) throw new Error('livecam frame header lacks "mime"');
  return { header, bytes: all.subarray(4 + n) };
}

/** Reconnect delays: 250 ms, doubling, capped at 5 s. No jitter, so tests can assert exact values. */
export class Backoff {
  constructor(initial = 250, max = 5000) {
    this.initial = initial;
    this.max = max;
    this.reset();
  }

  /** @returns {number} the delay in ms before the next attempt */
  next() {
    const delay = this._delay;
    this._delay = Math.min(this._delay * 2, this.max);
    return delay;
  }

  reset() {
    this._delay = this.initial;
  }
}

/**
 * @typedef {"connecting" | "live" | "paused" | "hidden" | "ended" | "error" | "closed"} LoopState
 * @typedef {{seq: number, rev: number, decode_ms?: number, paint_ms?: number}} PaintedReport
 * @typedef {object} PullLoopIO
 * @property {(text: string) => void} send  send a text message on the open socket
 * @property {(ms: number) => void} scheduleReconnect  open a new socket in `ms`, then call `opened()` etc.
 * @property {(ms: number) => void} scheduleWake  call `wake()` in `ms` (only used to respect the rate limit)
 * @property {(state: LoopState, detail: string | null) => void} onState  called on change; detail is the
 *   error text in the `error` state, else null
 * @property {() => number} [now]  clock in ms, for fps and the rate limit
 * @property {boolean} [visible]  initial visibility (default true)
 * @property {number} [depth]  frames in the pipeline at once (default 1; see PullLoop.depth)
 */

/**
 * The pull state machine, I/O-free: the DOM layer reports events (socket opened/closed, text message,
 * frame received/painted/failed, visibility) and the loop answers through the callbacks it was given.
 *
 * Pacing: at most `depth` frames are ever in the pipeline, each either granted (a `next` is outstanding) or
 * received and being decoded/painted. With depth 1 the next grant goes out only once the previous frame is
 * on screen, so a slow browser pulls fewer frames instead of queueing stale ones. With depth 2 the next
 * frame travels while the current one decodes and paints: where the round trip is long against the frame
 * interval (the comm channel, through the Jupyter server twice) that raises the rate a view can reach
 * (1280x720 at 60 fps over the comm: 36-45 -> 58 frames a second), and a slow browser still holds at most
 * one frame it has not started on. A frame painted retires every older one still in the pipeline (one whose
 * decode ended late: the view paints in order and drops those).
 */
export class PullLoop {
  /** @param {PullLoopIO} io */
  constructor(io) {
    this._io = io;
    this._now = io.now ?? (() => Date.now());
    this.visible = io.visible ?? true;
    /** Frames in the pipeline at once (1 or 2), below the server's `max_outstanding`; see `setDepth`. */
    this.depth = io.depth ?? 1;
    /** Paused by the viewer (this view only): no grants, so the server neither sends nor encodes for it. */
    this.paused = false;
    this.backoff = new Backoff();
    /** Counters for an overlay; `fps` is computed on read. */
    this.stats = { received: 0, painted: 0, reconnects: 0 };
    /** @type {Record<string, any> | null} the server's latest `stats` message, for the overlay */
    this.serverStats = null;
    /** @type {number[]} paint times within the last second */
    this._paints = [];
    this._ended = false;
    // Frame ids never repeat, so a paint from before a reconnect can't be mistaken for the current frame.
    this._lastId = 0;
    /** @type {LoopState} */
    this.state = "connecting";
    /** @type {string | null} */
    this.detail = null;
    this._resetConnection();
  }

  /** Everything that belongs to one socket; a new socket starts from scratch. */
  _resetConnection() {
    this._open = false;
    this._granted = 0; // grants sent and not yet answered by a frame
    /** @type {Map<number, {seq: number, rev?: number} | null>} frames received, not yet painted, by id */
    this._inFlight = new Map();
    this._maxOutstanding = 1; // until hello.max_outstanding says more (every server allows one)
    /** @type {PaintedReport | null} */
    this._report = null;
    /** @type {string | null} */
    this._serverState = null; // unknown until `hello`
    /** @type {string | null} */
    this._serverError = null;
    /** @type {string | null} */
    this._clientError = null; // decode failures, garbled frames
    this._minGapMs = 0; // from hello.max_messages_per_s
    this._lastSend = -Infinity;
    this._wakePending = false;
    this._keyWanted = false; // the next grant asks for a video keyframe (see requestKey)
  }

  /** Frames painted during the last second. */
  get fps() {
    const cutoff = this._now() - 1000;
    while (this._paints.length && this._paints[0] <= cutoff) this._paints.shift();
    return this._paints.length;
  }

  opened() {
    if (this._ended) return;
    this._open = true;
    this._pump();
    this._update();
  }

  /** @param {string} text a text message from the server */
  text(text) {
    if (this._ended) return;
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // not ours to judge; the server never sends this
    }
    if (msg === null || typeof msg !== "object") return;
    if (msg.type === "hello") {
      if (msg.protocol !== undefined && msg.protocol !== 1) {
        this._clientError = `unsupported livecam protocol ${JSON.stringify(msg.protocol)}`;
      }
      const rate = msg.max_messages_per_s;
      // 10% headroom: network jitter can bunch messages that left here evenly spaced.
      this._minGapMs = typeof rate === "number" && rate > 0 ? 1000 / (rate * 0.9) : 0;
      const most = msg.max_outstanding;
      this._maxOutstanding = Number.isInteger(most) && most > 0 ? most : 1;
      this._pump(); // a deeper pipeline fills now
    } else if (msg.type === "stats") {
      this.serverStats = msg; // numbers only: no state change
      return;
    } else if (msg.type !== "status") {
      return; // unknown types are ignored, as the protocol asks
    }
    if (typeof msg.state === "string") this._serverState = msg.state;
    // hello has no error field in protocol v1, but take one if a server sends it.
    if ("error" in msg) this._serverError = typeof msg.error === "string" && msg.error ? msg.error : null;
    this._update();
  }

  /**
   * A binary frame arrived (header from parseFrame, or null if it could not be parsed).
   * @param {{seq: number, rev?: number} | null} header
   * @returns {number} id to pass to `painted()` or `failed()`
   */
  frame(header) {
    if (this._ended) return 0;
    this.stats.received++;
    this._granted = Math.max(0, this._granted - 1);
    const id = ++this._lastId;
    this._inFlight.set(id, header);
    return id;
  }

  /**
   * Whether frame `id` should still be painted: false once a newer frame was painted, the connection
   * changed, or the loop ended. The view asks after decoding, and drops the frame when it is not.
   * @param {number} id
   */
  wants(id) {
    return !this._ended && this._inFlight.has(id);
  }

  /**
   * The frame is on screen: report it and grant the next one.
   * @param {number} id
   * @param {{decode_ms?: number, paint_ms?: number}} [timings]
   */
  painted(id, timings = {}) {
    const header = this._ended ? null : this._inFlight.get(id);
    if (!header) return;
    this.stats.painted++;
    this._paints.push(this._now());
    this.backoff.reset();
    this._clientError = null;
    const { seq, rev } = header;
    for (const other of [...this._inFlight.keys()]) if (other <= id) this._inFlight.delete(other);
    // A report sent only after the view comes back would inflate the server's capture->paint latency.
    if (this.visible && !this.paused) {
      /** @type {PaintedReport} */
      const report = { seq, rev: Number.isInteger(rev) ? /** @type {number} */ (rev) : 0 };
      const round = (/** @type {number} */ ms) => Math.round(ms * 100) / 100; // keeps the message short
      if (Number.isFinite(timings.decode_ms)) report.decode_ms = round(/** @type {number} */ (timings.decode_ms));
      if (Number.isFinite(timings.paint_ms)) report.paint_ms = round(/** @type {number} */ (timings.paint_ms));
      this._report = report;
    }
    this._pump();
    this._update();
  }

  /**
   * The frame could not be parsed or decoded: show why and ask for another one anyway.
   * @param {number} id
   * @param {string} message
   */
  failed(id, message) {
    if (this._ended || !this._inFlight.has(id)) return;
    this._inFlight.delete(id);
    this._clientError = message;
    this._pump();
    this._update();
  }

  /**
   * Frame `id` brings no picture, and that is no error (a video frame the decoder cannot use before the next
   * keyframe, or one lost with a failed decoder): free its place in the pipeline so the next grant goes out,
   * without the error badge `failed()` shows.
   * @param {number} id
   */
  skipped(id) {
    if (this._ended || !this._inFlight.has(id)) return;
    this._inFlight.delete(id);
    this._pump();
  }

  /**
   * The view's video decoder lost its state: the next grant on this connection says `key: true`, once, so the
   * next video frame is a keyframe. Call it before `skipped()`/`failed()` frees the grant it should ride on.
   * A new connection needs none (its first video frame is a keyframe).
   */
  requestKey() {
    if (this._ended || !this._open) return;
    this._keyWanted = true;
  }

  /**
   * Change how many frames may be in the pipeline; a deeper pipeline asks for the next frame at once.
   * @param {number} depth
   */
  setDepth(depth) {
    if (this._ended) return;
    this.depth = depth;
    this._pump();
  }

  /** @param {boolean} visible */
  setVisible(visible) {
    if (this._ended) return;
    this.visible = visible;
    if (!visible) this._report = null;
    this._pump();
    this._update();
  }

  /** @param {boolean} paused */
  setPaused(paused) {
    if (this._ended) return;
    this.paused = paused;
    if (paused) this._report = null; // reported after the pause it would count the pause as latency
    this._pump();
    this._update();
  }

  /**
   * Send a pointer event (docs/protocol.md) on the open connection; it counts against the server's
   * message rate like a grant, so the next grant keeps its distance.
   * @param {Record<string, number | string>} event  `{event: "click", x, y, button}` or a drag
   * @returns {boolean} false when there is no open connection to send it on
   */
  pointer(event) {
    if (this._ended || !this._open) return false;
    this._lastSend = this._now();
    this._io.send(JSON.stringify({ type: "pointer", ...event }));
    return true;
  }

  /** The rate-limit timer from `scheduleWake` fired. */
  wake() {
    this._wakePending = false;
    if (this._ended) return;
    this._pump();
  }

  /**
   * The socket closed without us asking. 1001 means the widget was closed (or its server stopped, which
   * happens only when its last widget closed): retrying would only meet a 404, so that is final.
   * @param {number} code
   */
  closed(code) {
    if (this._ended) return;
    this._resetConnection();
    if (code === 1001) {
      this._ended = true;
    } else {
      this.stats.reconnects++;
      this._io.scheduleReconnect(this.backoff.next());
    }
    this._update();
  }

  /** Stop for good: no more messages, no reconnect. The caller closes its socket. */
  dispose() {
    if (this._ended) return;
    this._ended = true;
    this._resetConnection();
    this._update();
  }

  /** Send the next grant if every condition for it holds (one at a time: the rate limit spaces them). */
  _pump() {
    if (this._ended || !this._open || !this.visible || this.paused || this._wakePending) return;
    const depth = Math.max(1, Math.min(this.depth, this._maxOutstanding));
    if (this._granted + this._inFlight.size >= depth) return;
    const now = this._now();
    const wait = this._lastSend + this._minGapMs - now;
    if (wait > 0) {
      this._wakePending = true;
      this._io.scheduleWake(Math.ceil(wait));
      return;
    }
    /** @type {{type: "next", painted?: PaintedReport, key?: true}} */
    const msg = this._report ? { type: "next", painted: this._report } : { type: "next" };
    if (this._keyWanted) msg.key = true;
    this._report = null;
    this._keyWanted = false;
    this._granted++;
    this._lastSend = now;
    this._io.send(JSON.stringify(msg));
    if (this._granted + this._inFlight.size < depth) this._pump(); // waits out the rate limit by itself
  }

  _update() {
    /** @type {LoopState} */
    let state;
    let detail = null;
    const error = this._serverError ?? this._clientError;
    if (this._ended) state = "closed";
    else if (!this._open || this._serverState === null) state = "connecting";
    else if (!this.visible) state = "hidden";
    else if (error) [state, detail] = ["error", error];
    // What the server says of its source comes before this view's own pause: the user should learn that a
    // clip ended (or the widget closed) even while this view is paused, since no resume brings frames back.
    else if (this._serverState === "paused") state = "paused"; // lf.stop()
    else if (this._serverState === "ended") state = "ended"; // the source has no more frames; the last stays
    else if (this._serverState === "closed") state = "closed"; // the server says so; it will close with 1001
    else if (this.paused) state = "paused";
    else state = "live";
    if (state === this.state && detail === this.detail) return;
    this.state = state;
    this.detail = detail;
    this._io.onState(state, detail);
  }
}

/**
 * @typedef {"websocket" | "proxy" | "comm"} TransportName
 */

/** Animation frames in a row that may find a decoded frame waiting behind the one painted (see paintStep). */
export const STANDING_QUEUE_RAFS = 3;

/**
 * One animation frame of a view that paints its decoded frames in order (pipeline depth 2). Frames come
 * about as fast as they are painted, so one pair that arrived together would leave every later frame one
 * animation frame late for good: a standing queue. When a frame has been waiting behind the one painted for
 * more than STANDING_QUEUE_RAFS animation frames in a row, the oldest waiting frame is skipped once.
 * @param {number} behind  animation frames in a row so far that found a frame waiting behind the painted one
 * @param {number} decoded  decoded frames waiting now, before this animation frame paints one
 * @returns {{behind: number, skip: boolean}}  the new count, and whether to drop the oldest before painting
 */
export function paintStep(behind, decoded) {
  const next = decoded > 1 ? behind + 1 : 0;
  return next > STANDING_QUEUE_RAFS ? { behind: 0, skip: true } : { behind: next, skip: false };
}

/**
 * When a view draws its decoded frames. A frame is drawn as soon as it is decoded, so its grant (which rides
 * on the paint report) reaches the server before the source's next frame and that frame is encoded the moment
 * it is captured; waiting for an animation frame to draw would hold the grant back until then, and the frame
 * picked would have waited in the server's slot for up to one interval. The display shows one picture per
 * animation frame, though: a frame decoded while a picture drawn since the last animation frame is still
 * unseen waits (drawing it would replace that picture before anyone saw it), and such waiting frames are
 * drawn in order, one per animation frame, from the next animation frame on (or by the first frame decoded
 * after it), with paintStep draining a standing queue.
 *
 * The view calls `decoded` when a frame joins its queue and `animationFrame` from a requestAnimationFrame
 * callback (which runs before that frame's rendering), and keeps an animation frame requested while
 * `wantsAnimationFrame` says so.
 */
export class PaintGate {
  constructor() {
    /** A picture was drawn since the last animation frame: the next rendering has not shown it yet. */
    this.unseen = false;
    this.behind = 0; // see paintStep
  }

  /**
   * A frame was decoded and queued.
   * @param {number} waiting  decoded frames waiting, the new one included
   * @returns {{draw: boolean, skip: boolean}}  draw the oldest now (after dropping one if `skip`), or wait
   */
  decoded(waiting) {
    if (this.unseen || waiting < 1) return { draw: false, skip: false };
    this.unseen = true;
    return this._step(waiting);
  }

  /**
   * An animation frame's callback: its rendering comes next and shows the picture drawn since the last one.
   * @param {number} waiting  decoded frames waiting
   * @returns {{draw: boolean, skip: boolean}}  draw the oldest now, to be shown by this animation frame
   */
  animationFrame(waiting) {
    if (this.unseen) {
      // This frame shows it; a frame waiting behind it is drawn by the next one (or by a decode before that).
      this.unseen = false;
      return { draw: false, skip: false };
    }
    return waiting > 0 ? this._step(waiting) : { draw: false, skip: false };
  }

  /** @param {number} waiting  @returns {boolean} whether the view needs an animation frame callback */
  wantsAnimationFrame(waiting) {
    return this.unseen || waiting > 0;
  }

  /** @param {number} waiting */
  _step(waiting) {
    const step = paintStep(this.behind, waiting);
    this.behind = step.behind;
    return { draw: true, skip: step.skip };
  }
}

/**
 * Whether the page has time to spare for a second frame in flight on the direct socket. At depth 1 the next
 * grant leaves only once a frame is drawn, and when that comes after the source's next frame was captured,
 * the frame waits in the server's slot for the grant; at depth 2 a grant always waits at the server and each
 * frame is encoded the moment it is captured. On a page that is slow already (a throttled CPU), though, a
 * second frame only waits behind the first: there depth 1 is fresher. "Spare" means the page's own work on a
 * frame (decode and draw, not the wait for the display) takes under SPARE_BELOW of the time between two
 * paints, as the median of the last HEADROOM_FRAMES; it stops meaning so above SPARE_ABOVE (hysteresis, so
 * the depth does not flap).
 */
export class Headroom {
  constructor() {
    /** @type {number[]} */
    this._work = [];
    /** @type {number[]} */
    this._gaps = [];
    /** @type {number | null} */
    this._last = null;
    this.spare = false;
  }

  /**
   * A frame was drawn.
   * @param {number} workMs  the page's work on it: decode and draw
   * @param {number} now  ms, when it was drawn
   * @returns {boolean} whether the page has time to spare now
   */
  painted(workMs, now) {
    if (this._last !== null) push(this._gaps, now - this._last);
    this._last = now;
    push(this._work, workMs);
    if (this._gaps.length >= HEADROOM_FRAMES / 2) {
      const share = median(this._work) / Math.max(1, median(this._gaps));
      if (share < SPARE_BELOW) this.spare = true;
      else if (share > SPARE_ABOVE) this.spare = false;
    }
    return this.spare;

    /** @param {number[]} list @param {number} value */
    function push(list, value) {
      list.push(value);
      if (list.length > HEADROOM_FRAMES) list.shift();
    }
    /** @param {number[]} list */
    function median(list) {
      return [...list].sort((a, b) => a - b)[list.length >> 1];
    }
  }
}

/** Frames the headroom is judged over (see Headroom). */
export const HEADROOM_FRAMES = 16;
/** Share of the paint interval the page's work on a frame takes, below which it has time to spare. */
export const SPARE_BELOW = 0.4;
/** ... and above which it no longer has. */
export const SPARE_ABOVE = 0.6;

/**
 * How many frames a view keeps in its pipeline on each transport (PullLoop.depth). The comm channel and
 * jupyter-server-proxy cross the Jupyter server twice per frame, and at depth 1 that round trip, not the
 * source, sets the frame rate; depth 2 lets the next frame travel while the current one decodes and paints.
 * The direct socket's round trip is short: one frame at a time keeps what is on screen freshest there.
 * @type {Readonly<Record<TransportName, number>>}
 */
export const PIPELINE_DEPTH = Object.freeze({ websocket: 1, proxy: 2, comm: 2 });

/**
 * Which transport to use next. With "auto" the candidates are tried in order (direct WebSocket, then
 * jupyter-server-proxy, then the comm channel). A transport that never delivered a frame gives way after one
 * failed attempt (it did not open in time, or was refused); one that worked is retried `retries` times (a
 * dropped connection, a restarted kernel) before the next one is tried. After the last candidate the plan
 * starts over, so a direct port that comes back is found again.
 */
export class TransportPlan {
  /**
   * @param {"auto" | TransportName} choice
   * @param {TransportName[]} available  the candidates this page can use, in order of preference
   * @param {number} [retries]
   */
  constructor(choice, available, retries = 3) {
    /** @type {TransportName[]} */
    this.order = choice === "auto" ? available.slice() : available.includes(choice) ? [choice] : [];
    this.retries = retries;
    this.index = 0;
    this.failures = 0;
    this.worked = false;
  }

  /** @returns {TransportName | null} null when this page can use none of them */
  get current() {
    return this.order[this.index] ?? null;
  }

  /** A frame came through: this transport works. */
  delivered() {
    this.failures = 0;
    this.worked = true;
  }

  /**
   * An attempt failed or a working connection dropped.
   * @returns {boolean} true if the plan moved on to another transport
   */
  failed() {
    this.failures++;
    if (this.order.length < 2 || this.failures < (this.worked ? this.retries : 1)) return false;
    this.index = (this.index + 1) % this.order.length;
    this.failures = 0;
    this.worked = false;
    return true;
  }
}

/**
 * @typedef {{width?: number, height?: number, source_width?: number, source_height?: number, mime?: string,
 *   codec?: string}} ShownHeader what the overlay reads of the header of the frame on screen
 */

/**
 * The overlay's frame line: its size (and the source's, when downscaled), encoded bytes and the codec it came
 * by (`jpeg`, `png`, `h264`: the header's mime; `h264 4:4:4` for High 4:4:4, profile 244 in the header's
 * `codec`); null before any frame.
 * @param {ShownHeader | null} header @param {number} bytes
 * @returns {string | null}
 */
export function frameLine(header, bytes) {
  if (!header || !header.width || !header.height) return null;
  let size = `${header.width}x${header.height}`;
  const sw = header.source_width;
  const sh = header.source_height;
  if (sw && sh && (sw !== header.width || sh !== header.height)) size += ` (of ${sw}x${sh})`;
  let codec = typeof header.mime === "string" && header.mime ? ` · ${header.mime.replace(/^[^/]*\//, "")}` : "";
  if (typeof header.codec === "string" && /^avc1\.f4/i.test(header.codec)) codec += " 4:4:4";
  return `${size} · ${(bytes / 1024).toFixed(1)} KiB${codec}`;
}

/**
 * @typedef {object} OverlayInput
 * @property {number} fps  frames this view painted during the last second
 * @property {Record<string, any> | null} server  the last `stats` message (null before the first)
 * @property {ShownHeader | null} header  header of the frame on screen
 * @property {number} bytes  encoded size of the frame on screen
 * @property {string | null} transport
 * @property {string | null} [videoUnavailable]  why this view cannot take H.264 (VideoOffer.unavailable); null:
 *   it can, or does not know yet
 */

/**
 * The overlay's lines: what this view paints, how old it is, what a frame costs, what is lost, and how it
 * travels. Kernel numbers come from `stats` messages, so they keep coming while a cell runs.
 * @param {OverlayInput} input
 * @returns {string[]}
 */
export function overlayLines({ fps, server, header, bytes, transport, videoUnavailable = null }) {
  const num = (/** @type {unknown} */ v, digits = 1) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(digits) : "–");
  const lines = [`painted ${fps} fps · source ${num(server?.fps_source)} fps`];
  lines.push(`latency ${num(server?.latency_ms, 0)} ms`);
  const camera = server?.camera;
  if (camera && typeof camera === "object") {
    // The viewer's own camera: its rate in the capturing browser and what reached the kernel.
    lines.push(`camera ${num(camera.fps_browser, 0)} fps · kernel got ${num(camera.fps_received, 0)} fps`);
  }
  const frame = frameLine(header, bytes);
  if (frame) lines.push(frame);
  // The widget sends H.264 (or may, under "auto") to views that offered it; this one could not.
  if (videoUnavailable && (server?.format === "h264" || server?.format === "auto")) {
    lines.push(`h264 off: ${videoUnavailable}`);
  } else if (server?.format === "auto" && header?.mime === "image/jpeg") {
    lines.push("auto: jpeg while this view keeps up"); // H.264 once its link cannot carry the JPEG frames
  }
  lines.push(`dropped ${typeof server?.dropped === "number" ? server.dropped : "–"}`);
  if (typeof server?.quality_level === "number" && server.quality_level > 0) {
    // Automatic quality, or a view that adapts by itself (comm, video): it could not keep up.
    lines.push(`quality: step ${server.quality_level} down`);
  }
  // On the comm, requests reach the kernel on a subshell's thread (streams while a cell runs) or on its
  // main thread (pauses until the cell ends); the kernel says which it saw.
  const shell = transport === "comm" ? server?.comm_requests_on : null;
  lines.push(shell === "main thread" ? "via comm · pauses while a cell runs" : `via ${transport ?? "–"}`);
  return lines;
}

/**
 * @typedef {object} ClosedOverlayInput
 * @property {ShownHeader | null} header  header of the last frame, still on screen (null: none came)
 * @property {number} bytes  its encoded size
 * @property {string | null} via  the transport that brought that frame; null when none ever did
 */

/**
 * The overlay of a closed view. Nothing is measured any more, so it shows no rates and no latency: the last
 * ones would read as if the stream were still running. What stays true is kept: the last frame's size and
 * the transport that really brought it (not the one the view would try next: a closed widget has no direct
 * URL any more, so that would name a transport this view never used).
 * @param {ClosedOverlayInput} input
 * @returns {string[]}
 */
export function closedOverlayLines({ header, bytes, via }) {
  const frame = frameLine(header, bytes);
  return ["closed · no more frames", ...(frame ? [`last frame ${frame}`] : []), `via ${via ?? "none"}`];
}

/** Badge text per state; `error` shows the server's (or decoder's) text instead. */
export const STATE_LABELS = /** @type {const} */ ({
  connecting: "connecting…",
  live: "live",
  paused: "paused",
  hidden: "hidden",
  ended: "ended",
  closed: "closed",
});

/**
 * The badge's text. A live view names its transport unless it is the direct WebSocket (the normal case), so
 * a view that fell back says so.
 * @param {LoopState} state @param {string | null} detail  the error text in the `error` state
 * @param {string | null} transport  the transport of the current connection
 * @returns {string}
 */
export function badgeText(state, detail, transport) {
  if (state === "error") return String(detail);
  const via = transport && transport !== "websocket" && state === "live" ? ` · ${transport}` : "";
  return STATE_LABELS[/** @type {Exclude<LoopState, "error">} */ (state)] + via;
}

/** @typedef {"auto" | "on" | "off"} BadgeMode */

/** How long the "live" badge stays after the picture went live, under `badge="auto"`. */
export const BADGE_FADE_MS = 2500;

/**
 * The model's `badge` trait as a mode: anything else (the standalone page's model has no such key) is
 * "auto", the trait's default.
 * @param {unknown} value
 * @returns {BadgeMode}
 */
export function badgeMode(value) {
  return value === "on" || value === "off" ? value : "auto";
}

/**
 * Whether the badge is shown, and when to ask again (the fade under "auto" is a time, not an event).
 *
 * "on" shows every state. "auto" shows every state except "live" once the picture has been live for
 * BADGE_FADE_MS: the badge covers the top-left corner, where OpenCV code draws its text, and a moving picture
 * says "live" by itself. "off" hides it, except the two states a user must not miss: an error (the picture
 * may be stale) and closed (it is final). Hiding never changes the text, only the visibility.
 * @param {LoopState} state
 * @param {BadgeMode} mode
 * @param {number | null} sinceLiveMs  how long this view has been live with a picture on screen; null: not
 *   (yet) live with a picture
 * @returns {{shown: boolean, recheckMs: number | null}}  recheckMs: ask again after this long (null: no
 *   change comes from time alone)
 */
export function badgeVisibility(state, mode, sinceLiveMs) {
  if (state === "error" || state === "closed" || mode === "on") return { shown: true, recheckMs: null };
  if (mode === "off") return { shown: false, recheckMs: null };
  if (state !== "live" || sinceLiveMs === null) return { shown: true, recheckMs: null };
  const left = BADGE_FADE_MS - sinceLiveMs;
  return left > 0 ? { shown: true, recheckMs: left } : { shown: false, recheckMs: null };
}

/** @typedef {"pause" | "snapshot" | "fullscreen" | "native" | "overlay" | "camera"} ViewAction */

/**
 * The view's keyboard shortcut for a key, or null: the widget handles (and stops) only these, only while it
 * has focus, and never with a modifier, so the notebook's own shortcuts (Ctrl-S, Shift-Enter...) pass.
 * @param {{key: string, ctrlKey?: boolean, metaKey?: boolean, altKey?: boolean}} ev
 * @returns {ViewAction | null}
 */
export function keyAction(ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return null;
  /** @type {Record<string, ViewAction>} */
  const keys = { " ": "pause", s: "snapshot", f: "fullscreen", 1: "native", i: "overlay" };
  return Object.hasOwn(keys, ev.key) ? keys[ev.key] : null;
}

/**
 * CSS width of the picture for the `width`/`height` traits (CSS pixels, 0 = no limit on that side): the
 * largest that fits both, aspect ratio kept (the height follows from it). null: no limit, the frame's
 * own size. The page still shrinks it to the cell (max-width), so it resizes with its cell.
 * @param {number} frameWidth @param {number} frameHeight @param {number} width @param {number} height
 * @returns {number | null}
 */
export function fitWidth(frameWidth, frameHeight, width, height) {
  if (!(frameWidth > 0 && frameHeight > 0)) return width > 0 ? width : null;
  const limits = [];
  if (width > 0) limits.push(width);
  if (height > 0) limits.push((height * frameWidth) / frameHeight);
  return limits.length ? Math.min(...limits) : null;
}

/**
 * A point on the picture (CSS pixels from its box's top-left) in source frame pixels: the frame's size
 * before `max_size` downscaling, so what a handler gets indexes the user's own array. The picture may be
 * letterboxed in its box (fullscreen): points on the bars are null.
 * @param {number} x @param {number} y  CSS pixels from the box's top-left corner
 * @param {number} boxWidth @param {number} boxHeight  the box's CSS size
 * @param {number} frameWidth @param {number} frameHeight  source frame size
 * @returns {[number, number] | null}
 */
export function framePoint(x, y, boxWidth, boxHeight, frameWidth, frameHeight) {
  if (!(boxWidth > 0 && boxHeight > 0 && frameWidth > 0 && frameHeight > 0)) return null;
  const scale = Math.min(boxWidth / frameWidth, boxHeight / frameHeight);
  const fx = (x - (boxWidth - frameWidth * scale) / 2) / scale;
  const fy = (y - (boxHeight - frameHeight * scale) / 2) / scale;
  if (fx < 0 || fy < 0 || fx > frameWidth || fy > frameHeight) return null;
  return [Math.min(frameWidth - 1, Math.floor(fx)), Math.min(frameHeight - 1, Math.floor(fy))];
}
