import { test } from "node:test";
import assert from "node:assert/strict";
import { BrowserCamera, cameraConstraints, cameraProblem, packCameraFrame } from "./camera.js";
import { CommRouter } from "./router.js";
import { openComm, openWebSocket } from "./transports.js";
import { fakeModel, FakeSocket, recorder } from "./fakes.js";

test("packCameraFrame: uint32 BE header length, the JSON header, the image", () => {
  const image = new Uint8Array([0xff, 0xd8, 7, 0xff, 0xd9]);
  const buf = new Uint8Array(packCameraFrame({ type: "camera", ask: 3 }, image));
  const n = new DataView(buf.buffer).getUint32(0, false);
  assert.deepEqual(JSON.parse(new TextDecoder().decode(buf.subarray(4, 4 + n))), { type: "camera", ask: 3 });
  assert.deepEqual([...buf.subarray(4 + n)], [...image]);
});

test("cameraProblem: the DOMException's name and message, bounded; odd values still say something", () => {
  assert.deepEqual(cameraProblem({ name: "NotAllowedError", message: "Permission denied" }), {
    name: "NotAllowedError",
    message: "Permission denied",
  });
  assert.deepEqual(cameraProblem("boom"), { name: "Error", message: "boom" });
  assert.equal(cameraProblem({ name: "X".repeat(100), message: "m".repeat(1000) }).message.length, 300);
  assert.equal(cameraProblem({ name: "X".repeat(100) }).name.length, 64);
});

test("cameraConstraints: the kernel's wish as ideals; a chosen camera exactly, a remembered one ideally", () => {
  const wish = { width: 1280, height: 720, fps: 15 };
  assert.deepEqual(cameraConstraints(wish, null), {
    video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 15 } },
    audio: false,
  });
  assert.deepEqual(cameraConstraints(wish, "cam-2").video.deviceId, { exact: "cam-2" });
  // The camera picked last time is preferred, not required: it may be unplugged now.
  assert.deepEqual(cameraConstraints(wish, null, "cam-2").video.deviceId, { ideal: "cam-2" });
  assert.deepEqual(cameraConstraints(wish, "cam-1", "cam-2").video.deviceId, { exact: "cam-1" });
});

test("sendBinary: a camera frame goes as a binary WebSocket message, or as the comm message's buffer", () => {
  const on = recorder();
  const conn = openWebSocket("ws://127.0.0.1:9/livecam/v1/x", "t", on, /** @type {any} */ (FakeSocket));
  const sock = FakeSocket.made.at(-1);
  const data = packCameraFrame({ type: "camera", ask: 1 }, new Uint8Array([1]));
  conn.sendBinary(data); // not open yet: dropped, as text is
  sock.serverOpen();
  conn.sendBinary(data);
  assert.deepEqual(sock.sent, [data]);

  const model = fakeModel();
  const comm = openComm(new CommRouter(model), recorder());
  const [{ view }] = model.sent;
  comm.sendBinary(data);
  assert.deepEqual(model.sent.at(-1), { livecam: "binary", view, buffers: [data] });
});

/** A stand-in for the DOM parts BrowserCamera touches, and a camera whose opening the test resolves. */
function fakeBrowser() {
  const element = () => ({ muted: false, playsInline: false, srcObject: null, play: () => Promise.resolve(), videoWidth: 0 });
  globalThis.document = /** @type {any} */ ({ createElement: element });
  globalThis.requestAnimationFrame = /** @type {any} */ (() => 1);
  globalThis.cancelAnimationFrame = () => {};
  const opening = [];
  const media = {
    getUserMedia: () => new Promise((resolve, reject) => opening.push({ resolve, reject })),
  };
  const track = () => ({ stopped: false, label: "cam", stop() { this.stopped = true; } });
  const stream = (t) => ({ getTracks: () => [t], getVideoTracks: () => [t] });
  return { media, opening, track, stream };
}

test("BrowserCamera: a camera stopped while the browser still opens it is stopped once it opens", async () => {
  const { media, opening, track, stream } = fakeBrowser();
  const events = [];
  const io = { send: () => {}, failed: (p) => events.push(["failed", p.name]), started: (l) => events.push(["started", l]) };
  const camera = new BrowserCamera({ width: 64, height: 48, fps: 5 }, io, /** @type {any} */ (media));
  void camera.start();
  assert.equal(camera.on, true);
  camera.stopStream(); // paused, or another view took over, during the permission prompt
  assert.equal(camera.on, false);
  const late = track();
  opening[0].resolve(stream(late));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(late.stopped, true);
  assert.equal(camera.stream, null);
  assert.deepEqual(events, []);

  void camera.start(); // and a camera started normally runs until stopped
  const live = track();
  opening[1].resolve(stream(live));
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(camera.stream?.getTracks()[0], live);
  assert.deepEqual(events, [["started", "cam"]]);
  void camera.start();
  opening.length === 2 || assert.fail("a running camera is not opened twice");
  camera.close();
  assert.equal(live.stopped, true);
  // A refusal that comes after a stop says nothing either.
  const again = new BrowserCamera({ width: 64, height: 48, fps: 5 }, io, /** @type {any} */ (media));
  void again.start();
  again.stopStream();
  opening[2].reject(Object.assign(new Error("denied"), { name: "NotAllowedError" }));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(events, [["started", "cam"]]);
});
