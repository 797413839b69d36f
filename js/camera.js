// The viewer's own camera, for a LiveFrame whose source is "browser" (docs/protocol.md, "Browser camera").
//
// The kernel pulls: it sends `capture` (numbered) to the one view that captures, and asks again only after it
// has taken the answer. The view answers each request once, with the newest camera frame it has not sent yet
// (waiting for the camera's next frame if it has sent the newest), JPEG-encoded from a canvas. Nothing queues
// on either side: a slow kernel or link just means fewer requests.
//
// Which view captures is the kernel's call (one at a time): a view offers its camera on its own when nobody
// captures ("auto"), and its camera button takes over. The camera is opened when the kernel says this view
// captures, and stopped (the light goes off) when it says it no longer does, or the view closes.

/** What a camera frame is encoded as: every browser encodes JPEG from a canvas. */
export const CAMERA_MIME = "image/jpeg";
export const CAMERA_QUALITY = 0.85;

/**
 * A camera failure as the kernel hears it: the DOMException's name and message. No `navigator.mediaDevices`
 * means an insecure page (http:// other than localhost), where browsers hide the camera entirely.
 * @param {unknown} error @returns {{name: string, message: string}}
 */
export function cameraProblem(error) {
  const e = /** @type {{name?: unknown, message?: unknown}} */ (error ?? {});
  const name = typeof e.name === "string" && e.name ? e.name : "Error";
  const message = typeof e.message === "string" ? e.message : String(error);
  return { name: name.slice(0, 64), message: message.slice(0, 300) };
}

/**
 * One camera frame as the protocol frames it: a 4-byte big-endian header length, the JSON header, the image.
 * @param {Record<string, unknown>} header @param {Uint8Array} image @returns {ArrayBuffer}
 */
export function packCameraFrame(header, image) {
  const head = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + head.byteLength + image.byteLength);
  new DataView(out.buffer).setUint32(0, head.byteLength, false);
  out.set(head, 4);
  out.set(image, 4 + head.byteLength);
  return out.buffer;
}

/**
 * The getUserMedia constraints for the kernel's wish (a wish: the browser picks the nearest its camera has).
 * @param {{width: number, height: number, fps: number}} wish
 * @param {string | null} deviceId  the camera picked from the menu (exactly that one)
 * @param {string | null} [preferred]  the one picked last time on this site, if it is still there
 * @returns {MediaStreamConstraints}
 */
export function cameraConstraints(wish, deviceId, preferred = null) {
  /** @type {MediaTrackConstraints} */
  const video = { width: { ideal: wish.width }, height: { ideal: wish.height }, frameRate: { ideal: wish.fps } };
  if (deviceId) video.deviceId = { exact: deviceId };
  else if (preferred) video.deviceId = { ideal: preferred };
  return { video, audio: false };
}

/** Where the camera picked from a view's menu is remembered (per site, in this browser), for the next run. */
const CHOICE_KEY = "livecam-widget.camera";

/** @param {string} deviceId */
export function rememberCamera(deviceId) {
  try {
    globalThis.localStorage?.setItem(CHOICE_KEY, deviceId);
  } catch {
    // storage refused (private mode, sandboxed frame): the choice lasts for this view only
  }
}

/** @returns {string | null} */
function rememberedCamera() {
  try {
    return globalThis.localStorage?.getItem(CHOICE_KEY) ?? null;
  } catch {
    return null;
  }
}

/** Counts frames per second over the last second, for the `fps` a camera frame reports. */
class RateWindow {
  constructor() {
    /** @type {number[]} */
    this.times = [];
  }
  /** @param {number} now */
  add(now) {
    this.times.push(now);
    while (this.times.length && this.times[0] <= now - 1000) this.times.shift();
  }
  get rate() {
    return this.times.length;
  }
}

/**
 * The capture side of one view: the camera's MediaStream, a hidden video element playing it, a canvas to
 * encode from. `close()` stops everything it started.
 */
export class BrowserCamera {
  /**
   * @param {{width: number, height: number, fps: number}} wish  from the server's hello
   * @param {{send(buffer: ArrayBuffer): void, failed(problem: {name: string, message: string}): void,
   *   started(label: string): void}} io
   * @param {MediaDevices | undefined} [media]
   */
  constructor(wish, io, media = globalThis.navigator?.mediaDevices) {
    this.wish = wish;
    this.io = io;
    this.media = media;
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {string | null} the camera asked for; null: the browser's default */
    this.deviceId = null;
    this.video = document.createElement("video");
    this.video.muted = true;
    this.video.playsInline = true;
    this.canvas = document.createElement("canvas");
    /** @type {{ask: number, received: number} | null} the kernel's request not answered yet */
    this.pending = null;
    this.frameCount = 0; // camera frames seen
    this.sentFrame = -1; // which of them was sent last
    this.captureWall = 0; // wall-clock ms when the newest frame was captured
    this.busy = false; // encoding a frame
    this.closed = false;
    this.rate = new RateWindow();
    this.starting = /** @type {Promise<void> | null} */ (null);
    this.frameCallback = 0;
    /** bumped by every stop: a getUserMedia that resolves after a stop is stopped at once */
    this.generation = 0;
  }

  /** The camera is open (or opening). */
  get on() {
    return this.stream !== null || this.starting !== null;
  }

  /** Open the camera (again, on `deviceId`, when given); failures go to `io.failed`. */
  start(deviceId = this.deviceId) {
    if (deviceId !== this.deviceId) this.stopStream();
    this.deviceId = deviceId;
    if (this.on || this.closed) return this.starting ?? Promise.resolve();
    if (!this.media?.getUserMedia) {
      const message = globalThis.isSecureContext === false ? "this page is not a secure context" : "no MediaDevices API";
      this.io.failed({ name: globalThis.isSecureContext === false ? "InsecureContext" : "NotSupportedError", message });
      return Promise.resolve();
    }
    const generation = this.generation;
    this.starting = this.media.getUserMedia(cameraConstraints(this.wish, deviceId, rememberedCamera())).then(
      async (stream) => {
        if (generation !== this.generation || this.closed) {
          // Stopped (paused, another view took over, closed) while the browser was still opening it.
          stream.getTracks().forEach((t) => t.stop());
          return;
        }
        this.starting = null;
        this.stream = stream;
        this.video.srcObject = stream;
        await this.video.play().catch(() => {}); // muted video may always play; a refusal shows as no frames
        this.watchFrames();
        this.io.started(stream.getVideoTracks()[0]?.label ?? "camera");
      },
      (error) => {
        if (generation !== this.generation || this.closed) return;
        this.starting = null;
        this.io.failed(cameraProblem(error));
      },
    );
    return this.starting;
  }

  /** Count camera frames as they are presented (their capture time when the browser tells it). */
  watchFrames() {
    const video = /** @type {any} */ (this.video);
    if (typeof video.requestVideoFrameCallback === "function") {
      /** @param {number} _now @param {any} meta */
      const onFrame = (_now, meta) => {
        if (!this.stream) return;
        const at = typeof meta?.captureTime === "number" ? meta.captureTime : performance.now();
        this.newFrame(performance.timeOrigin + at);
        this.frameCallback = video.requestVideoFrameCallback(onFrame);
      };
      this.frameCallback = video.requestVideoFrameCallback(onFrame);
      return;
    }
    // No requestVideoFrameCallback: a new frame is one whose media time moved, checked every animation frame.
    let last = -1;
    const poll = () => {
      if (!this.stream) return;
      if (this.video.currentTime !== last && this.video.readyState >= 2) {
        last = this.video.currentTime;
        this.newFrame(Date.now());
      }
      this.frameCallback = requestAnimationFrame(poll);
    };
    this.frameCallback = requestAnimationFrame(poll);
  }

  /** @param {number} captureWall */
  newFrame(captureWall) {
    this.frameCount++;
    this.captureWall = captureWall;
    this.rate.add(performance.now());
    this.answer();
  }

  /**
   * The kernel's request for a frame.
   * @param {number} ask
   */
  request(ask) {
    this.pending = { ask, received: Date.now() };
    this.answer();
  }

  /** Answer the pending request with the newest frame not yet sent, if there is one. */
  answer() {
    const pending = this.pending;
    if (!pending || this.busy || !this.stream || this.frameCount === this.sentFrame) return;
    const { video, canvas } = this;
    if (!video.videoWidth || !video.videoHeight) return;
    this.pending = null;
    this.busy = true;
    this.sentFrame = this.frameCount;
    const captured = this.captureWall;
    if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) {
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
    }
    /** @type {CanvasRenderingContext2D} */ (canvas.getContext("2d")).drawImage(video, 0, 0);
    canvas.toBlob(
      async (blob) => {
        try {
          if (!blob || this.closed) return;
          const image = new Uint8Array(await blob.arrayBuffer());
          const header = {
            type: "camera",
            ask: pending.ask,
            mime: CAMERA_MIME,
            t_capture: captured,
            t_received: pending.received,
            t_sent: Date.now(),
            fps: this.rate.rate,
          };
          this.io.send(packCameraFrame(header, image));
        } finally {
          this.busy = false;
          this.answer(); // a request that came while encoding
        }
      },
      CAMERA_MIME,
      CAMERA_QUALITY,
    );
  }

  /** @returns {Promise<{deviceId: string, label: string}[]>} this browser's cameras (labels once allowed) */
  async cameras() {
    if (!this.media?.enumerateDevices) return [];
    const all = await this.media.enumerateDevices().catch(() => []);
    return all
      .filter((d) => d.kind === "videoinput")
      .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `camera ${i + 1}` }));
  }

  /** Stop the camera (the light goes off). A request still pending is answered if the camera starts again
   * (another camera chosen from the menu), else it is dropped with the next connection. */
  stopStream() {
    this.generation++;
    this.starting = null; // an open still in progress is stopped when it resolves (see start)
    this.stream?.getTracks().forEach((t) => t.stop());
    const video = /** @type {any} */ (this.video);
    if (typeof video.cancelVideoFrameCallback === "function") video.cancelVideoFrameCallback(this.frameCallback);
    cancelAnimationFrame(this.frameCallback);
    this.stream = null;
    this.video.srcObject = null;
    this.sentFrame = this.frameCount;
  }

  close() {
    this.closed = true;
    this.stopStream();
  }
}
