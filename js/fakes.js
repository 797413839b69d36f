// Stand-ins for the browser and anywidget, shared by the node tests (*.test.js). Not part of the widget: the
// build joins only what widget.js imports.

/**
 * A stand-in for an anywidget model: records handlers and sent messages, and plays kernel messages.
 * @param {{canSend?: boolean}} [options]  false: no `send`, like the standalone page's read-only model
 */
export function fakeModel({ canSend = true } = {}) {
  /** @type {Map<string, Set<Function>>} */
  const handlers = new Map();
  const sent = [];
  const model = {
    sent,
    handlers,
    on(name, cb) {
      if (!handlers.has(name)) handlers.set(name, new Set());
      handlers.get(name).add(cb);
    },
    off(name, cb) {
      handlers.get(name)?.delete(cb);
    },
    /** Deliver a custom message from the kernel, as anywidget does: to every handler. */
    emit(msg, buffers = []) {
      for (const cb of handlers.get("msg:custom") ?? []) cb(msg, buffers);
    },
    count(name = "msg:custom") {
      return handlers.get(name)?.size ?? 0;
    },
  };
  if (canSend) {
    model.send = (content, _callbacks, buffers) => sent.push(buffers ? { ...content, buffers } : content);
  }
  return model;
}


/**
 * A stand-in for the browser's WebSocket: records what the code under test does with it, and lets a test
 * play the server's side (`serverOpen`, `serverText`, `serverBinary`, `serverClose`).
 */
export class FakeSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 3;
  /** @type {FakeSocket[]} every socket made, newest last */
  static made = [];

  /** @param {string} url @param {string[]} protocols */
  constructor(url, protocols) {
    if (!url.startsWith("ws")) throw new SyntaxError(`bad WebSocket URL ${url}`);
    this.url = url;
    this.protocols = protocols;
    this.readyState = FakeSocket.CONNECTING;
    this.binaryType = "blob";
    /** @type {string[]} */
    this.sent = [];
    /** @type {number[]} close codes the client asked for */
    this.closedWith = [];
    /** @type {((ev: any) => void) | null} */
    this.onopen = this.onmessage = this.onclose = null;
    FakeSocket.made.push(this);
  }

  /** @param {string} text */
  send(text) {
    this.sent.push(text);
  }

  /** @param {number} code */
  close(code) {
    this.closedWith.push(code);
    this.readyState = FakeSocket.CLOSED;
  }

  serverOpen() {
    this.readyState = FakeSocket.OPEN;
    this.onopen?.({});
  }

  /** @param {string} text */
  serverText(text) {
    this.onmessage?.({ data: text });
  }

  /** @param {ArrayBuffer} data */
  serverBinary(data) {
    this.onmessage?.({ data });
  }

  /** @param {number} code */
  serverClose(code) {
    this.readyState = FakeSocket.CLOSED;
    this.onclose?.({ code });
  }
}

/** A frame message as docs/protocol.md draws it (uint32 BE length, UTF-8 JSON header, image bytes): the
 * same framing a view's camera frames use. */
export { packCameraFrame as buildFrame } from "./camera.js";

/** Handlers that record every event a connection reports, in order. */
export function recorder() {
  /** @type {any[][]} */
  const events = [];
  return {
    events,
    open: () => events.push(["open"]),
    text: (/** @type {string} */ text) => events.push(["text", text]),
    frame: (/** @type {any} */ header, /** @type {Uint8Array | null} */ bytes, /** @type {string=} */ error) =>
      events.push(["frame", header, bytes && [...bytes], error]),
    close: (/** @type {number} */ code) => events.push(["close", code]),
  };
}

/**
 * Stand-ins for WebCodecs' VideoDecoder and EncodedVideoChunk, with a decoder's rules as browsers enforce them
 * (decode() throws before configure() and, after each configure(), until a keyframe; close() throws on a closed
 * decoder). A test plays the decoder's side with `emit(timestamp)` (a picture out) and `fail(message)`.
 * @returns {{Decoder: any, Chunk: any, made: any[]}}  `made`: every decoder, newest last
 */
export function fakeWebCodecs() {
  /** @type {any[]} */
  const made = [];
  class Chunk {
    /** @param {{type: string, timestamp: number, data: Uint8Array}} init */
    constructor({ type, timestamp, data }) {
      Object.assign(this, { type, timestamp, data: Uint8Array.from(data) }); // a copy, as the browser makes
    }
  }
  class Decoder {
    /** @param {{output: (frame: any) => void, error: (error: any) => void}} init */
    constructor(init) {
      this.init = init;
      this.state = "unconfigured";
      /** @type {any[]} */
      this.configs = [];
      /** @type {any[]} */
      this.chunks = [];
      this.keyRequired = true;
      made.push(this);
    }

    /** @param {any} config */
    configure(config) {
      if (this.state === "closed") throw new DOMException("closed", "InvalidStateError");
      this.configs.push(config);
      this.state = "configured";
      this.keyRequired = true;
    }

    /** @param {any} chunk */
    decode(chunk) {
      if (this.state !== "configured") throw new DOMException(`decode() while ${this.state}`, "InvalidStateError");
      if (this.keyRequired && chunk.type !== "key") throw new DOMException("a key frame is required", "DataError");
      this.keyRequired = false;
      this.chunks.push(chunk);
    }

    flush() {
      throw new Error("flush() called: after it the next chunk must be a keyframe");
    }

    close() {
      if (this.state === "closed") throw new DOMException("closed", "InvalidStateError");
      this.state = "closed";
    }

    /** The picture of the chunk with `timestamp` comes out. @param {number} timestamp */
    emit(timestamp) {
      const frame = {
        timestamp,
        closed: false,
        close() {
          this.closed = true;
        },
      };
      this.init.output(frame);
      return frame;
    }

    /** The decoder fails, as browsers report it: closed first, then the error callback. @param {string} message */
    fail(message, name = "EncodingError") {
      this.state = "closed";
      this.init.error(new DOMException(message, name));
    }
  }
  return { Decoder, Chunk, made };
}
