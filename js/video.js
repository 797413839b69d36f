// H.264 frames (docs/protocol.md, "Video frames"), decoded with WebCodecs' VideoDecoder. Pure logic with its
// I/O injected, so node tests it with a fake decoder: whether this page can decode H.264 (probed once per page),
// the offer a view makes on each connection, and one view's decoder with its resync rules. view.js wires them
// to the connection, the pull loop and the canvas.
//
// The build joins the js/ modules into one scope (src/livecam_widget/_frontend.py): top-level names here must
// not clash with any other module's.

/** The header `mime` of a video frame. */
export const VIDEO_MIME = "video/h264";

/** What the probe asks the VideoDecoder for: Constrained Baseline, level 3.1, as the kernel encodes it. */
export const VIDEO_PROBE_CODEC = "avc1.42E01F";

/**
 * High 4:4:4 Predictive, level 3.1: a decoder that takes it gets full-resolution colour (offered as
 * `h264-444`; the kernel prefers it).
 */
export const VIDEO_PROBE_CODEC_444 = "avc1.F4001F";

/** Keyframes in a row that fail to decode before the view withdraws its offer and gets images again. */
export const VIDEO_KEY_FAILURES = 3;

/**
 * Whether this page can decode H.264, and if not, why (a short text for the overlay); `codecs`: what to offer
 * (`h264`, and `h264-444` when the decoder takes High 4:4:4 too).
 * @typedef {{usable: boolean, reason: string | null, codecs: string[]}} VideoSupport
 */

/**
 * What the probe reads of the page: `globalThis` in a browser, a stand-in in node.
 * @typedef {object} VideoEnv
 * @property {boolean} [isSecureContext]
 * @property {any} [VideoDecoder]  the WebCodecs VideoDecoder class, if the page has one
 */

/**
 * Probe whether `env` can decode the kernel's H.264: a secure context (browsers expose WebCodecs only there),
 * a VideoDecoder, and one that supports the stream's codec with `optimizeForLatency` (one picture out per
 * chunk in, no buffering); then whether it takes High 4:4:4 as well. Never rejects.
 * @param {VideoEnv} env
 * @returns {Promise<VideoSupport>}
 */
export async function probeVideo(env) {
  /** @param {string} reason @returns {VideoSupport} */
  const no = (reason) => ({ usable: false, reason, codecs: [] });
  if (!env.isSecureContext) return no("page not secure (http, not localhost)");
  if (typeof env.VideoDecoder !== "function") return no("no WebCodecs VideoDecoder in this browser");
  const Decoder = env.VideoDecoder;
  /** @param {string} codec @returns {Promise<boolean>} */
  const takes = async (codec) => {
    try {
      return Boolean((await Decoder.isConfigSupported({ codec, optimizeForLatency: true }))?.supported);
    } catch {
      return false; // a browser that throws instead of answering "no" cannot decode it either
    }
  };
  if (!(await takes(VIDEO_PROBE_CODEC))) return no("this browser's VideoDecoder cannot decode H.264");
  const codecs = (await takes(VIDEO_PROBE_CODEC_444)) ? ["h264", "h264-444"] : ["h264"];
  return { usable: true, reason: null, codecs };
}

/** @type {Promise<VideoSupport> | null} the page's probe, once a view asked for it */
let pageVideoSupport = null;

/**
 * The page's probe (of `globalThis`), run once and shared by every view on the page.
 * @returns {Promise<VideoSupport>}
 */
export function videoSupport() {
  pageVideoSupport ??= probeVideo(/** @type {VideoEnv} */ (globalThis));
  return pageVideoSupport;
}

/**
 * One view's H.264 offer (`{"type": "video", "codecs": ["h264", "h264-444"]}`, or `["h264"]` where the decoder
 * takes 4:2:0 only), made on every new connection while this page can decode H.264 and the view has not given
 * it up. When decoding keeps failing it first narrows to `["h264"]` (a decoder that claimed 4:4:4 and fails
 * on it), then withdraws (`"codecs": []`). Also says why this view gets images where the kernel would send
 * video, for the overlay.
 */
export class VideoOffer {
  /** @param {Promise<VideoSupport>} support  the probe's answer (`videoSupport()` in a browser) */
  constructor(support) {
    /** @type {VideoSupport | null} the probe's answer, once it came */
    this.support = null;
    /** @type {string | null} why this view withdrew its offer; it makes none after that */
    this.withdrawn = null;
    /** @type {string | null} why this view stopped offering 4:4:4 (it offers 4:2:0 only after that) */
    this.narrowed = null;
    this._answered = support.then((answer) => {
      this.support = answer;
    });
  }

  /** @returns {string | null} why this view cannot take video; null when it can (or the probe has not answered) */
  get unavailable() {
    return this.withdrawn ?? (this.support && !this.support.usable ? this.support.reason : null);
  }

  /**
   * A connection is open: offer H.264 on it, at once if the probe has answered (so the first grant may already
   * bring video), else when it answers, if that connection is still the current one by then.
   * @param {(text: string) => void} send  sends on this connection
   * @param {() => boolean} current  whether this connection is still the view's current one
   */
  opened(send, current) {
    const offer = () => {
      if (current() && this.support?.usable && this.withdrawn === null) send(this._offer());
    };
    if (this.support) offer();
    else void this._answered.then(offer);
  }

  /** @returns {string} the offer message: the probe's codecs, less 4:4:4 once narrowed */
  _offer() {
    const codecs = (this.support?.codecs ?? []).filter((c) => this.narrowed === null || c !== "h264-444");
    return JSON.stringify({ type: "video", codecs });
  }

  /**
   * Decoding keeps failing while 4:4:4 is offered: offer 4:2:0 only from now on (the server answers with a
   * keyframe of its 4:2:0 chain). Returns false when there was nothing to narrow (the caller withdraws).
   * @param {string} reason  why, for the overlay
   * @param {(text: string) => void} send  sends on the current connection
   * @returns {boolean}
   */
  narrow(reason, send) {
    if (this.withdrawn !== null || this.narrowed !== null || !this.support?.codecs.includes("h264-444")) return false;
    this.narrowed = reason;
    send(this._offer());
    return true;
  }

  /**
   * Give H.264 up for good in this view: the server sends images from now on.
   * @param {string} reason  for the overlay
   * @param {(text: string) => void} send  sends on the current connection
   */
  withdraw(reason, send) {
    if (this.withdrawn !== null) return;
    this.withdrawn = reason;
    send(JSON.stringify({ type: "video", codecs: [] }));
  }
}

/**
 * A video frame given to the decoder, from `decode()` until its picture comes out (or it is given up).
 * @template M
 * @typedef {object} VideoJob
 * @property {number} id  its frame id in the pull loop, which is also its chunk's timestamp
 * @property {any} header  its frame header
 * @property {M} meta  what the caller passed along with it
 * @property {boolean} key  a keyframe
 * @property {number} t0  when it went to the decoder (io.now)
 */

/**
 * The part of WebCodecs' VideoDecoder this file uses.
 * @typedef {object} VideoDecoderLike
 * @property {(config: {codec: string, optimizeForLatency: boolean}) => void} configure
 * @property {(chunk: any) => void} decode
 * @property {() => void} close
 */

/**
 * What a VideoPipe works with. `Decoder` and `Chunk` are WebCodecs' VideoDecoder and EncodedVideoChunk in a
 * browser, fakes in node.
 * @template M
 * @typedef {object} VideoPipeIO
 * @property {new (init: {output: (frame: any) => void, error: (error: any) => void}) => VideoDecoderLike} Decoder
 * @property {new (init: {type: "key" | "delta", timestamp: number, data: Uint8Array}) => any} Chunk
 * @property {(picture: any, job: VideoJob<M>, decodeMs: number) => void} output  a decoded picture (a VideoFrame:
 *   the callee paints or closes it)
 * @property {(job: VideoJob<M>) => void} skipped  this frame brings no picture and no error to show (no decoder
 *   state to build on, or lost with a failed decoder): free its grant
 * @property {() => void} requestKey  the next grant should ask for a keyframe (`key: true`)
 * @property {(reason: string) => boolean} [narrow]  H.264 keeps failing here: fall back from 4:4:4 to 4:2:0;
 *   false when there is no narrower offer to make (VideoOffer.narrow)
 * @property {(reason: string) => void} withdraw  H.264 keeps failing here: withdraw the offer
 * @property {() => number} [now]  clock in ms, for decode_ms
 */

/**
 * One view's H.264 decoder and its resync rules (docs/protocol.md, "Video frames").
 *
 * Every video frame received is decoded, in the order it came, even when its picture will not be painted: the
 * decoder's state depends on every frame of the chain. A delta frame decodes only on top of the chain the
 * decoder is on; without that state (nothing decoded yet, after an error, another chain) it is skipped, and the
 * next grant asks for a keyframe (once per loss). A keyframe (re)configures the decoder when the codec or
 * size changed, and starts it over when an error closed it. A decoder error closes it and gives up the frames
 * it held; after VIDEO_KEY_FAILURES keyframes in a row failed, the view narrows its offer to 4:2:0 (if it
 * offered 4:4:4) and starts counting again, and after that many more withdraws its offer. Pictures come out
 * one per chunk, in order (no B-frames: no reordering), matched to their frame by timestamp.
 * Never flushes: after a flush the next chunk must be a keyframe.
 * @template M
 */
export class VideoPipe {
  /** @param {VideoPipeIO<M>} io */
  constructor(io) {
    this._io = io;
    this._now = io.now ?? (() => performance.now());
    /** Keyframes in a row whose decoding failed (any picture out resets it); kept across connections. */
    this.keyFailures = 0;
    /** @type {string | null} why H.264 was given up; from then on every video frame is skipped */
    this.withdrawn = null;
    this._clear();
  }

  /** Forget the decoder's state (the caller closed the decoder). */
  _clear() {
    /** @type {VideoDecoderLike | null} */
    this._decoder = null;
    /** @type {string | null} the codec and size the decoder is configured for */
    this._config = null;
    /** @type {number | null} the chain whose frames the decoder can decode next */
    this.chain = null;
    this._keyRequested = false; // asked for a keyframe since the state was lost
    /** @type {Map<number, VideoJob<M>>} frames given to the decoder whose picture has not come out, by id */
    this._pending = new Map();
  }

  /**
   * A video frame arrived: decode it now (in arrival order), or skip it until a keyframe.
   * @param {number} id  its frame id (PullLoop.frame): the chunk's timestamp, unique for this pipe
   * @param {any} header  with `key`, `chain`, `codec`, `width`, `height`
   * @param {Uint8Array} bytes  one access unit, Annex B
   * @param {M} meta  given back with its picture
   */
  decode(id, header, bytes, meta) {
    /** @type {VideoJob<M>} */
    const job = { id, header, meta, key: header.key === true, t0: this._now() };
    if (this.withdrawn !== null) return this._io.skipped(job); // sent before the withdrawal reached the server
    if (!job.key && (this._decoder === null || header.chain !== this.chain)) {
      this._wantKey(); // first, so the grant that skipping frees already asks for the keyframe
      return this._io.skipped(job);
    }
    this._pending.set(id, job);
    try {
      if (job.key) this._startChain(header);
      const decoder = /** @type {VideoDecoderLike} */ (this._decoder);
      decoder.decode(new this._io.Chunk({ type: job.key ? "key" : "delta", timestamp: id, data: bytes }));
    } catch (e) {
      this._failed(this._decoder, e); // a decoder that cannot be made or configured, a chunk it refuses
    }
  }

  /** @param {any} header  of a keyframe: the decoder, configured for it, now follows its chain */
  _startChain(header) {
    this._decoder ??= this._newDecoder();
    const config = `${header.codec} ${header.width}x${header.height}`;
    if (config !== this._config) {
      this._config = null; // until configure() returns
      this._decoder.configure({ codec: String(header.codec), optimizeForLatency: true });
      this._config = config;
    }
    this.chain = header.chain;
    this._keyRequested = false;
  }

  /** @returns {VideoDecoderLike} */
  _newDecoder() {
    const decoder = new this._io.Decoder({
      output: (frame) => this._output(decoder, frame),
      error: (error) => this._failed(decoder, error),
    });
    return decoder;
  }

  _wantKey() {
    if (this._keyRequested) return;
    this._keyRequested = true;
    this._io.requestKey();
  }

  /**
   * A picture came out of `decoder`.
   * @param {VideoDecoderLike} decoder @param {any} frame  a VideoFrame; its timestamp is the frame id
   */
  _output(decoder, frame) {
    const job = decoder === this._decoder ? this._pending.get(frame.timestamp) : undefined;
    if (!job) {
      frame.close(); // from a decoder given up, or for a frame given up already
      return;
    }
    // Pictures come out in the order their chunks went in: an older frame still waiting never will.
    for (const [id, older] of this._pending) {
      if (id >= job.id) break;
      this._pending.delete(id);
      this._io.skipped(older);
    }
    this._pending.delete(job.id);
    this.keyFailures = 0;
    this._io.output(frame, job, this._now() - job.t0);
  }

  /**
   * `decoder` failed (its error callback, or a call that threw): close it, give up the frames it held, and
   * start over at a keyframe; or, after too many failed keyframes, withdraw the offer.
   * @param {VideoDecoderLike | null} decoder @param {unknown} error
   */
  _failed(decoder, error) {
    if (decoder !== this._decoder) return; // an old decoder's late report
    const jobs = [...this._pending.values()];
    try {
      decoder?.close();
    } catch {
      // already closed: an error callback's decoder is
    }
    this._clear();
    if (jobs.some((job) => job.key)) this.keyFailures++;
    if (this.keyFailures >= VIDEO_KEY_FAILURES) {
      const e = /** @type {{name?: unknown, message?: unknown}} */ (error ?? {});
      const text = (/** @type {unknown} */ v) => (typeof v === "string" && v ? v : null);
      const reason = `H.264 decode failed: ${text(e.message) ?? text(e.name) ?? String(error)}`;
      if (this._io.narrow?.(reason)) {
        this.keyFailures = 0; // the 4:2:0 chain starts with a keyframe of its own
        this._wantKey();
      } else {
        this.withdrawn = reason;
        this._io.withdraw(reason);
      }
    } else {
      this._wantKey();
    }
    for (const job of jobs) this._io.skipped(job);
  }

  /**
   * The connection changed or the view closes: close the decoder and forget its frames without reporting them
   * (their grants went with the connection). The next connection starts with a keyframe.
   */
  reset() {
    try {
      this._decoder?.close();
    } catch {
      // already closed
    }
    this._clear();
  }
}
