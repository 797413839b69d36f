import { test } from "node:test";
import assert from "node:assert/strict";
import {
  probeVideo,
  videoSupport,
  VideoOffer,
  VideoPipe,
  VIDEO_KEY_FAILURES,
  VIDEO_MIME,
  VIDEO_PROBE_CODEC,
  VIDEO_PROBE_CODEC_444,
} from "./video.js";
import { PullLoop } from "./pull.js";
import { fakeWebCodecs } from "./fakes.js";

/** Let pending promise callbacks run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

/** A VideoDecoder class whose isConfigSupported answers `answer` (a function of the config), recording asks. */
function decoderClass(answer) {
  const asked = [];
  class Decoder {
    static async isConfigSupported(config) {
      asked.push(config);
      return answer(config);
    }
  }
  return { Decoder, asked };
}

test("probeVideo: usable only in a secure context, with a VideoDecoder, that decodes H.264 with low latency", async () => {
  const yes = decoderClass(() => ({ supported: true }));
  const both = { usable: true, reason: null, codecs: ["h264", "h264-444"] };
  assert.deepEqual(await probeVideo({ isSecureContext: true, VideoDecoder: yes.Decoder }), both);
  assert.deepEqual(yes.asked, [
    { codec: VIDEO_PROBE_CODEC, optimizeForLatency: true },
    { codec: VIDEO_PROBE_CODEC_444, optimizeForLatency: true },
  ]);
  assert.equal(VIDEO_PROBE_CODEC, "avc1.42E01F");
  assert.equal(VIDEO_PROBE_CODEC_444, "avc1.F4001F");
  // A decoder that takes Baseline but not High 4:4:4 (refusing or throwing): 4:2:0 only.
  for (const answer of [() => ({ supported: false }), () => Promise.reject(new TypeError("no"))]) {
    const baseline = decoderClass((config) => (config.codec === VIDEO_PROBE_CODEC ? { supported: true } : answer()));
    const only = await probeVideo({ isSecureContext: true, VideoDecoder: baseline.Decoder });
    assert.deepEqual(only, { usable: true, reason: null, codecs: ["h264"] });
  }

  const insecure = await probeVideo({ isSecureContext: false, VideoDecoder: yes.Decoder });
  assert.deepEqual(insecure, { usable: false, reason: "page not secure (http, not localhost)", codecs: [] });
  assert.equal(yes.asked.length, 2); // not even asked
  assert.equal((await probeVideo({})).reason, "page not secure (http, not localhost)");

  const none = "no WebCodecs VideoDecoder in this browser";
  assert.deepEqual(await probeVideo({ isSecureContext: true }), { usable: false, reason: none, codecs: [] });
  assert.deepEqual(await probeVideo({ isSecureContext: true, VideoDecoder: {} }), { usable: false, reason: none, codecs: [] });

  const cannot = { usable: false, reason: "this browser's VideoDecoder cannot decode H.264", codecs: [] };
  const no = decoderClass(() => ({ supported: false }));
  assert.deepEqual(await probeVideo({ isSecureContext: true, VideoDecoder: no.Decoder }), cannot);
  const throws = decoderClass(() => {
    throw new TypeError("unknown codec");
  });
  assert.deepEqual(await probeVideo({ isSecureContext: true, VideoDecoder: throws.Decoder }), cannot);
  const odd = decoderClass(() => undefined);
  assert.deepEqual(await probeVideo({ isSecureContext: true, VideoDecoder: odd.Decoder }), cannot);
});

test("videoSupport probes the page once and shares the answer (node: no secure context, no video)", async () => {
  const first = videoSupport();
  assert.equal(videoSupport(), first);
  const answer = await first;
  assert.equal(answer.usable, false);
  assert.equal(typeof answer.reason, "string");
});

const USABLE = { usable: true, reason: null, codecs: ["h264"] };
const OFFER = { type: "video", codecs: ["h264"] };
const USABLE_444 = { usable: true, reason: null, codecs: ["h264", "h264-444"] };
const OFFER_444 = { type: "video", codecs: ["h264", "h264-444"] };

/** A connection's send, recording parsed messages. */
function sink() {
  const sent = [];
  return { sent, send: (/** @type {string} */ text) => sent.push(JSON.parse(text)) };
}

test("VideoOffer: offered at once on open when the probe has answered usable", async () => {
  const offer = new VideoOffer(Promise.resolve(USABLE));
  await settle();
  const a = sink();
  offer.opened(a.send, () => true);
  assert.deepEqual(a.sent, [OFFER]); // synchronously: before the loop's first grant
  const b = sink(); // every new connection offers again
  offer.opened(b.send, () => true);
  assert.deepEqual(b.sent, [OFFER]);
  assert.equal(offer.unavailable, null);
});

test("VideoOffer: a late probe answer offers on the connection still current, not on one gone", async () => {
  let answer = (/** @type {any} */ _) => {};
  const offer = new VideoOffer(new Promise((resolve) => (answer = resolve)));
  const gone = sink();
  let goneCurrent = true;
  offer.opened(gone.send, () => goneCurrent);
  const now = sink();
  offer.opened(now.send, () => true);
  assert.deepEqual([gone.sent, now.sent], [[], []]);
  assert.equal(offer.unavailable, null); // not known yet
  goneCurrent = false; // replaced before the probe answered
  answer(USABLE);
  await settle();
  assert.deepEqual(gone.sent, []);
  assert.deepEqual(now.sent, [OFFER]);
});

test("VideoOffer: nothing is offered when the page cannot decode H.264; the reason is kept", async () => {
  const reason = "no WebCodecs VideoDecoder in this browser";
  const offer = new VideoOffer(Promise.resolve({ usable: false, reason }));
  const early = sink();
  offer.opened(early.send, () => true);
  await settle();
  const late = sink();
  offer.opened(late.send, () => true);
  assert.deepEqual([early.sent, late.sent], [[], []]);
  assert.equal(offer.unavailable, reason);
});

test("VideoOffer.withdraw: codecs [] once, no offer on later connections, the reason for the overlay", async () => {
  const offer = new VideoOffer(Promise.resolve(USABLE));
  await settle();
  const conn = sink();
  offer.opened(conn.send, () => true);
  offer.withdraw("H.264 decode failed: boom", conn.send);
  offer.withdraw("H.264 decode failed: again", conn.send);
  assert.deepEqual(conn.sent, [OFFER, { type: "video", codecs: [] }]);
  assert.equal(offer.unavailable, "H.264 decode failed: boom");
  const next = sink();
  offer.opened(next.send, () => true);
  assert.deepEqual(next.sent, []);
});

test("VideoOffer.narrow: 4:4:4 given up once (4:2:0 offered now and on later connections), then withdraw", async () => {
  const offer = new VideoOffer(Promise.resolve(USABLE_444));
  await settle();
  const conn = sink();
  offer.opened(conn.send, () => true);
  assert.deepEqual(conn.sent, [OFFER_444]);
  assert.equal(offer.narrow("H.264 decode failed: boom", conn.send), true);
  assert.equal(offer.narrow("H.264 decode failed: again", conn.send), false); // nothing narrower to offer
  assert.deepEqual(conn.sent, [OFFER_444, OFFER]);
  assert.equal(offer.unavailable, null); // still takes video
  const next = sink();
  offer.opened(next.send, () => true);
  assert.deepEqual(next.sent, [OFFER]);
  offer.withdraw("H.264 decode failed: again", next.send);
  assert.deepEqual(next.sent, [OFFER, { type: "video", codecs: [] }]);
  // A page whose decoder takes 4:2:0 only has nothing to narrow.
  const plain = new VideoOffer(Promise.resolve(USABLE));
  await settle();
  assert.equal(plain.narrow("x", sink().send), false);
});

const CODEC = "avc1.42E01F";
const BYTES = Uint8Array.of(0, 0, 0, 1, 0x65, 0x88);

/** A video frame header: a keyframe or a delta of `chain`. */
function video(key, chain = 1, extra = {}) {
  return { seq: 1, rev: 0, mime: VIDEO_MIME, key, chain, codec: CODEC, width: 64, height: 48, ...extra };
}
const key = (chain = 1, extra = {}) => video(true, chain, extra);
const delta = (chain = 1) => video(false, chain);

/**
 * A VideoPipe on fake WebCodecs, recording what it reports in order: ["output", id, decodeMs, meta],
 * ["skipped", id], ["key"], ["narrow", reason], ["withdraw", reason].
 * @param {{paint?: boolean, narrows?: number}} [options]  paint false: the receiver closes every picture instead
 *   of painting it; narrows: how many times the offer can narrow (0: a 4:2:0-only offer)
 */
function makePipe({ paint = true, narrows = 0 } = {}) {
  const codecs = fakeWebCodecs();
  let narrowsLeft = narrows;
  const rec = { events: [], pictures: [], t: 0 };
  const pipe = new VideoPipe({
    Decoder: codecs.Decoder,
    Chunk: codecs.Chunk,
    output: (picture, job, decodeMs) => {
      rec.events.push(["output", job.id, decodeMs, job.meta]);
      rec.pictures.push(picture);
      if (!paint) picture.close();
    },
    skipped: (job) => rec.events.push(["skipped", job.id]),
    requestKey: () => rec.events.push(["key"]),
    narrow: (reason) => {
      rec.events.push(["narrow", reason]);
      return narrowsLeft-- > 0;
    },
    withdraw: (reason) => rec.events.push(["withdraw", reason]),
    now: () => rec.t,
  });
  /** What the pipe reported since the last call. */
  const take = () => rec.events.splice(0);
  /** Chunks the decoder `n` got, as [type, timestamp]. */
  const chunks = (n = 0) => codecs.made[n].chunks.map((c) => [c.type, c.timestamp]);
  return { pipe, codecs, rec, take, chunks };
}

test("VideoPipe: a keyframe configures the decoder for low latency; its picture maps back to the frame id", () => {
  const { pipe, codecs, rec, take, chunks } = makePipe();
  rec.t = 100;
  pipe.decode(7, key(), BYTES, "meta-7");
  assert.equal(codecs.made.length, 1);
  const decoder = codecs.made[0];
  assert.deepEqual(decoder.configs, [{ codec: CODEC, optimizeForLatency: true }]);
  assert.deepEqual(chunks(), [["key", 7]]);
  assert.deepEqual([...decoder.chunks[0].data], [...BYTES]);
  rec.t = 103.5;
  const picture = decoder.emit(7);
  assert.deepEqual(take(), [["output", 7, 3.5, "meta-7"]]);
  assert.equal(rec.pictures[0], picture);
  assert.equal(picture.closed, false); // the receiver's to paint and close
  rec.t = 110;
  pipe.decode(8, delta(), BYTES, "meta-8");
  rec.t = 111;
  decoder.emit(8);
  assert.deepEqual(take(), [["output", 8, 1, "meta-8"]]);
  assert.deepEqual(chunks(), [["key", 7], ["delta", 8]]);
  assert.equal(decoder.configs.length, 1);
});

test("VideoPipe: every frame is decoded in arrival order, also those whose picture is not painted", () => {
  const { pipe, codecs, rec, take, chunks } = makePipe({ paint: false });
  pipe.decode(1, key(), BYTES, null);
  pipe.decode(2, delta(), BYTES, null); // arrives before 1's picture is out
  pipe.decode(3, delta(), BYTES, null);
  assert.deepEqual(chunks(), [["key", 1], ["delta", 2], ["delta", 3]]);
  const decoder = codecs.made[0];
  for (const id of [1, 2, 3]) decoder.emit(id); // pictures the receiver closes unpainted (a newer one was)
  assert.ok(rec.pictures.every((p) => p.closed));
  pipe.decode(4, delta(), BYTES, null); // the chain goes on: no keyframe needed
  decoder.emit(4);
  assert.deepEqual(chunks(), [["key", 1], ["delta", 2], ["delta", 3], ["delta", 4]]);
  assert.deepEqual(
    take().map(([what, id]) => [what, id]),
    [["output", 1], ["output", 2], ["output", 3], ["output", 4]],
  );
  assert.equal(codecs.made.length, 1);
});

test("VideoPipe: a delta with no decoder state is skipped and asks for a keyframe, once per loss", () => {
  const { pipe, codecs, take, chunks } = makePipe();
  pipe.decode(1, delta(), BYTES, null);
  assert.deepEqual(take(), [["key"], ["skipped", 1]]); // the key request first: the freed grant carries it
  assert.equal(codecs.made.length, 0); // nothing to decode it with, nothing made for it
  pipe.decode(2, delta(), BYTES, null);
  assert.deepEqual(take(), [["skipped", 2]]); // asked already
  pipe.decode(3, key(), BYTES, null);
  pipe.decode(4, delta(), BYTES, null);
  assert.deepEqual(take(), []);
  assert.deepEqual(chunks(), [["key", 3], ["delta", 4]]);
  // A delta of another chain cannot build on this one's state.
  pipe.decode(5, delta(2), BYTES, null);
  assert.deepEqual(take(), [["key"], ["skipped", 5]]);
  pipe.decode(6, key(2), BYTES, null);
  pipe.decode(7, delta(2), BYTES, null);
  assert.deepEqual(take(), []);
  assert.deepEqual(chunks(), [["key", 3], ["delta", 4], ["key", 6], ["delta", 7]]);
  assert.equal(codecs.made.length, 1); // same codec and size: the same decoder, not reconfigured
  assert.equal(codecs.made[0].configs.length, 1);
  pipe.decode(8, delta(1), BYTES, null); // back to the old chain: its state is gone
  assert.deepEqual(take(), [["key"], ["skipped", 8]]);
});

test("VideoPipe: a keyframe with another codec or size reconfigures the decoder; a delta never does", () => {
  const { pipe, codecs, take, chunks } = makePipe();
  pipe.decode(1, key(), BYTES, null);
  pipe.decode(2, key(), BYTES, null);
  pipe.decode(3, delta(), BYTES, null);
  pipe.decode(4, key(1, { codec: "avc1.42E028" }), BYTES, null);
  pipe.decode(5, delta(), BYTES, null);
  pipe.decode(6, key(1, { codec: "avc1.42E028", width: 128, height: 96 }), BYTES, null);
  pipe.decode(7, key(1, { codec: "avc1.42E028", width: 128, height: 96 }), BYTES, null);
  assert.deepEqual(take(), []);
  assert.equal(codecs.made.length, 1);
  assert.deepEqual(codecs.made[0].configs, [
    { codec: CODEC, optimizeForLatency: true },
    { codec: "avc1.42E028", optimizeForLatency: true },
    { codec: "avc1.42E028", optimizeForLatency: true },
  ]);
  assert.equal(chunks().length, 7);
});

test("VideoPipe: a decoder error closes it, gives up its frames, asks for a keyframe, and a new one starts there", () => {
  const { pipe, codecs, take, chunks } = makePipe();
  pipe.decode(1, key(), BYTES, null);
  const first = codecs.made[0];
  first.emit(1);
  pipe.decode(2, delta(), BYTES, null);
  pipe.decode(3, delta(), BYTES, null);
  take();
  first.fail("corrupt slice");
  assert.deepEqual(take(), [["key"], ["skipped", 2], ["skipped", 3]]);
  assert.equal(first.state, "closed");
  assert.equal(pipe.keyFailures, 0); // the keyframe had decoded: a delta failed
  pipe.decode(4, delta(), BYTES, null);
  assert.deepEqual(take(), [["skipped", 4]]); // no state: dropped until the keyframe, asked for once
  const late = first.emit(3); // the failed decoder's late picture: not ours any more
  assert.equal(late.closed, true);
  first.init.error(new DOMException("again", "EncodingError")); // nor its late error
  assert.deepEqual(take(), []);
  pipe.decode(5, key(), BYTES, null);
  assert.equal(codecs.made.length, 2);
  assert.deepEqual(codecs.made[1].configs, [{ codec: CODEC, optimizeForLatency: true }]);
  pipe.decode(6, delta(), BYTES, null);
  assert.equal(first.emit(5).closed, true); // the old decoder, with a timestamp the new one holds: ignored
  assert.deepEqual(take(), []);
  codecs.made[1].emit(5);
  assert.deepEqual(take().map(([what, id]) => [what, id]), [["output", 5]]);
  assert.deepEqual(chunks(1), [["key", 5], ["delta", 6]]);
});

test("VideoPipe: three keyframes in a row that fail withdraw the offer; a picture out resets the count", () => {
  const { pipe, codecs, take } = makePipe();
  const failKey = (/** @type {number} */ id) => {
    pipe.decode(id, key(), BYTES, null);
    codecs.made.at(-1).fail(`bad ${id}`);
  };
  failKey(1);
  failKey(2);
  assert.equal(pipe.keyFailures, 2);
  pipe.decode(3, key(), BYTES, null);
  codecs.made.at(-1).emit(3); // this one decodes
  assert.equal(pipe.keyFailures, 0);
  take();
  failKey(4);
  failKey(5);
  assert.deepEqual(take(), [["key"], ["skipped", 4], ["key"], ["skipped", 5]]);
  assert.equal(pipe.withdrawn, null);
  failKey(6);
  assert.equal(VIDEO_KEY_FAILURES, 3);
  const gaveUp = [["narrow", "H.264 decode failed: bad 6"], ["withdraw", "H.264 decode failed: bad 6"], ["skipped", 6]];
  assert.deepEqual(take(), gaveUp); // nothing narrower to offer; no key request
  assert.equal(pipe.withdrawn, "H.264 decode failed: bad 6");
  const made = codecs.made.length;
  pipe.decode(7, key(), BYTES, null); // sent before the withdrawal reached the server
  pipe.decode(8, delta(), BYTES, null);
  assert.deepEqual(take(), [["skipped", 7], ["skipped", 8]]);
  assert.equal(codecs.made.length, made);
  pipe.reset(); // withdrawn for the view's life, not just this connection
  pipe.decode(9, key(), BYTES, null);
  assert.deepEqual(take(), [["skipped", 9]]);
});

test("VideoPipe: keyframes failing under a 4:4:4 offer narrow it to 4:2:0 first, and count again from zero", () => {
  const { pipe, codecs, take } = makePipe({ narrows: 1 });
  const failKey = (/** @type {number} */ id) => {
    pipe.decode(id, key(1, { codec: "avc1.f4001f" }), BYTES, null);
    codecs.made.at(-1).fail(`bad ${id}`);
  };
  for (let id = 1; id <= VIDEO_KEY_FAILURES; id++) failKey(id);
  assert.deepEqual(take().slice(-3), [["narrow", "H.264 decode failed: bad 3"], ["key"], ["skipped", 3]]);
  assert.equal(pipe.withdrawn, null);
  assert.equal(pipe.keyFailures, 0);
  pipe.decode(4, key(2), BYTES, null); // the 4:2:0 chain's keyframe decodes
  codecs.made.at(-1).emit(4);
  assert.deepEqual(take(), [["output", 4, 0, null]]);
  for (let id = 5; id < 5 + VIDEO_KEY_FAILURES; id++) failKey(id); // then fails again: given up
  assert.equal(pipe.withdrawn, "H.264 decode failed: bad 7");
  assert.deepEqual(take().slice(-3), [["narrow", "H.264 decode failed: bad 7"], ["withdraw", "H.264 decode failed: bad 7"], ["skipped", 7]]);
});

test("VideoPipe: a decoder that refuses a keyframe at once (configure or decode throws) fails the same way", () => {
  const { pipe, codecs, take } = makePipe();
  const { configure, decode } = codecs.Decoder.prototype;
  codecs.Decoder.prototype.configure = function () {
    throw new TypeError("unsupported codec");
  };
  pipe.decode(1, key(), BYTES, null);
  assert.deepEqual(take(), [["key"], ["skipped", 1]]);
  assert.equal(codecs.made[0].state, "closed"); // closed by the pipe: configure() threw, no error callback came
  assert.equal(pipe.keyFailures, 1);
  pipe.decode(2, key(), BYTES, null);
  assert.deepEqual(take(), [["key"], ["skipped", 2]]);
  codecs.Decoder.prototype.configure = configure;
  codecs.Decoder.prototype.decode = function () {
    throw new DOMException("", "DataError"); // no message: the name says what it was
  };
  pipe.decode(3, key(), BYTES, null);
  const gaveUp = [["narrow", "H.264 decode failed: DataError"], ["withdraw", "H.264 decode failed: DataError"], ["skipped", 3]];
  assert.deepEqual(take(), gaveUp);
  assert.equal(codecs.made.length, 3);
  assert.equal(codecs.made[2].state, "closed");
  codecs.Decoder.prototype.decode = decode;
  // A decoder made without `new`-able class (no WebCodecs at all) fails as well, instead of throwing.
  const bare = new VideoPipe({
    Decoder: /** @type {any} */ (undefined),
    Chunk: /** @type {any} */ (undefined),
    output: () => assert.fail("no picture"),
    skipped: () => {},
    requestKey: () => {},
    withdraw: () => {},
  });
  bare.decode(1, key(), BYTES, null);
  assert.equal(bare.keyFailures, 1);
});

test("VideoPipe: a picture out retires older frames the decoder never answered", () => {
  const { pipe, codecs, take } = makePipe();
  pipe.decode(1, key(), BYTES, null);
  pipe.decode(2, delta(), BYTES, null);
  pipe.decode(3, delta(), BYTES, null);
  codecs.made[0].emit(1);
  codecs.made[0].emit(3);
  assert.deepEqual(take().map(([what, id]) => [what, id]), [["output", 1], ["skipped", 2], ["output", 3]]);
  const stray = codecs.made[0].emit(2); // too late, or never given: closed, not reported
  assert.equal(stray.closed, true);
  assert.deepEqual(take(), []);
});

test("VideoPipe.reset: closes the decoder and forgets its frames silently; the next connection starts at a keyframe", () => {
  const { pipe, codecs, take } = makePipe();
  pipe.decode(1, key(), BYTES, null);
  pipe.decode(2, delta(), BYTES, null);
  pipe.reset();
  assert.equal(codecs.made[0].state, "closed");
  assert.deepEqual(take(), []); // those grants went with the connection
  assert.equal(codecs.made[0].emit(1).closed, true);
  codecs.made[0].init.error(new DOMException("aborted", "AbortError"));
  assert.deepEqual(take(), []);
  pipe.reset(); // twice is harmless
  pipe.decode(3, delta(), BYTES, null);
  assert.deepEqual(take(), [["key"], ["skipped", 3]]);
  pipe.decode(4, key(), BYTES, null);
  assert.equal(codecs.made.length, 2);
  assert.equal(codecs.made[1].state, "configured");
});

test("VideoPipe with a PullLoop: a delta it cannot decode frees the grant, which asks for a keyframe", () => {
  const codecs = fakeWebCodecs();
  const sent = [];
  const loop = new PullLoop({
    send: (text) => sent.push(JSON.parse(text)),
    scheduleReconnect: () => {},
    scheduleWake: () => {},
    onState: () => {},
    now: () => 0,
  });
  /** @type {VideoPipe<null>} */
  const pipe = new VideoPipe({
    Decoder: codecs.Decoder,
    Chunk: codecs.Chunk,
    output: (picture, job) => {
      picture.close();
      loop.painted(job.id);
    },
    skipped: (job) => loop.skipped(job.id),
    requestKey: () => loop.requestKey(),
    withdraw: () => {},
    now: () => 0,
  });
  loop.opened();
  loop.text(JSON.stringify({ type: "hello", protocol: 1, max_outstanding: 2, max_messages_per_s: 0, state: "live" }));
  const arrive = (/** @type {any} */ header) => pipe.decode(loop.frame(header), header, BYTES, null);
  arrive({ ...delta(), seq: 5 }); // joined mid-chain (say, after a decoder error)
  assert.deepEqual(sent, [{ type: "next" }, { type: "next", key: true }]);
  arrive({ ...key(), seq: 6 });
  codecs.made[0].emit(2);
  assert.deepEqual(sent[2], { type: "next", painted: { seq: 6, rev: 0 } });
  assert.equal(loop.state, "live");
  arrive({ ...delta(), seq: 7 });
  codecs.made[0].fail("boom");
  assert.deepEqual(sent[3], { type: "next", key: true });
  assert.equal(sent.length, 4);
});
