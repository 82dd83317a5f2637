// wsx.js's frame codec (WsxSocket.codec) byte for byte: the client's masked frames in every
// length form, and the reader of the server's frames fed whole and one byte at a time, with
// each rule of RFC 6455 section 5 it enforces and the close code a violation gets.
// node wsx_codec_test.js
"use strict";
const assert = require("node:assert/strict");
const path = require("node:path");
// Node 18 has Web Crypto only as a module; browsers and Node 20 have the global.
if (!globalThis.crypto) globalThis.crypto = require("node:crypto").webcrypto;
const { encodeFrame, FrameReader } = require(path.join(__dirname, "..", "..", "js", "wsx.js")).codec;

function payloadOf(length) {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + 3) & 0xff;
  return bytes;
}

// A server frame: unmasked, any length form (forced to test non-minimal ones).
function serverFrame(first, payload, lengthForm = null) {
  const length = payload.length;
  const form = lengthForm || (length < 126 ? 7 : length < 65536 ? 16 : 64);
  const header = form === 7 ? [first, length]
    : form === 16 ? [first, 126, length >>> 8, length & 0xff]
    : [first, 127, 0, 0, 0, 0, (length >>> 24) & 0xff, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff];
  const frame = new Uint8Array(header.length + length);
  frame.set(header);
  frame.set(payload, header.length);
  return frame;
}
function concat(...parts) {
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    whole.set(p, at);
    at += p.length;
  }
  return whole;
}

// Feeds `bytes` (whole, or one byte at a time) and returns what the reader reported.
function read(bytes, { byteByByte = false, max = 1 << 20 } = {}) {
  const events = [];
  const reader = new FrameReader({
    frameMessage: (opcode, payload) => events.push(["message", opcode, Array.from(payload)]),
    framePing: (payload) => events.push(["ping", Array.from(payload)]),
    frameClose: (code, reason) => events.push(["close", code, reason]),
    frameFail: (code, why) => events.push(["fail", code, why]),
  }, max);
  if (byteByByte) for (const byte of bytes) reader.push(new Uint8Array([byte]));
  else reader.push(bytes);
  return events;
}
function both(bytes, options = {}) {
  const whole = read(bytes, options);
  assert.deepEqual(read(bytes, { ...options, byteByByte: true }), whole, "same events byte by byte");
  return whole;
}

const checks = {
  // Every length form, masked with a 4-byte key that unmasks to the payload; two frames with
  // the same payload have different keys.
  encode_length_forms() {
    for (const length of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
      const payload = payloadOf(length);
      const frame = encodeFrame(0x2, payload);
      assert.equal(frame[0], 0x82, "FIN + binary");
      assert.equal(frame[1] & 0x80, 0x80, "masked");
      let at;
      let declared;
      if (length < 126) {
        declared = frame[1] & 0x7f;
        at = 2;
      } else if (length < 65536) {
        assert.equal(frame[1] & 0x7f, 126);
        declared = (frame[2] << 8) | frame[3];
        at = 4;
      } else {
        assert.equal(frame[1] & 0x7f, 127);
        declared = Number(Buffer.from(frame.subarray(2, 10)).readBigUInt64BE());
        at = 10;
      }
      assert.equal(declared, length, "declared length " + length);
      assert.equal(frame.length, at + 4 + length);
      const key = frame.subarray(at, at + 4);
      const unmasked = frame.subarray(at + 4).map((byte, i) => byte ^ key[i & 3]);
      assert.deepEqual(unmasked, payload, "unmasks to the payload, length " + length);
    }
    const keys = new Set();
    for (let i = 0; i < 50; i++) keys.add(Buffer.from(encodeFrame(0x1, payloadOf(4)).subarray(2, 6)).toString("hex"));
    assert.ok(keys.size >= 45, "fresh random keys: " + keys.size + " of 50 distinct");
  },

  // The server's frames in every length form, whole and a byte at a time.
  read_length_forms() {
    for (const length of [0, 125, 126, 65535, 65536, 100000]) {
      const payload = payloadOf(length);
      assert.deepEqual(both(serverFrame(0x82, payload)), [["message", 2, Array.from(payload)]], "length " + length);
    }
  },

  // Fragments with control frames between them; a message assembled from them.
  read_fragments() {
    const bytes = concat(
      serverFrame(0x01, Buffer.from("h\u00e9")), serverFrame(0x89, Buffer.from("p")),
      serverFrame(0x00, Buffer.from("l")), serverFrame(0x8a, Buffer.from("pong")),
      serverFrame(0x80, Buffer.from("lo")), serverFrame(0x82, Buffer.from([1])));
    assert.deepEqual(both(bytes), [
      ["ping", [0x70]], ["message", 1, Array.from(Buffer.from("h\u00e9llo"))], ["message", 2, [1]]]);
  },

  // Close frames: code and reason, no body (1005), and what follows one is not read.
  read_close() {
    assert.deepEqual(both(concat(serverFrame(0x88, Buffer.from([0x0f, 0xa1, 0x62, 0x79, 0x65])),
                                 serverFrame(0x81, Buffer.from("after")))),
                     [["close", 4001, "bye"]]);
    assert.deepEqual(both(serverFrame(0x88, new Uint8Array(0))), [["close", 1005, ""]]);
  },

  // Each broken rule: its close code, and nothing read after it.
  read_violations() {
    const code = (bytes, options) => {
      const events = both(bytes, options);
      assert.equal(events.length, 1, JSON.stringify(events));
      assert.equal(events[0][0], "fail", JSON.stringify(events));
      return events[0][1];
    };
    const text = (s) => Buffer.from(s);
    assert.equal(code(serverFrame(0xc1, text("x"))), 1002, "RSV1 without an extension");
    assert.equal(code(serverFrame(0xa1, text("x"))), 1002, "RSV2");
    assert.equal(code(serverFrame(0x91, text("x"))), 1002, "RSV3");
    assert.equal(code(new Uint8Array([0x81, 0x81, 1, 2, 3, 4, 5])), 1002, "a masked server frame");
    assert.equal(code(serverFrame(0x83, text("x"))), 1002, "reserved data opcode 3");
    assert.equal(code(serverFrame(0x8b, text("x"))), 1002, "reserved control opcode 11");
    assert.equal(code(serverFrame(0x09, text("x"))), 1002, "a fragmented ping");
    assert.equal(code(serverFrame(0x89, payloadOf(126))), 1002, "a ping of 126 bytes");
    assert.equal(code(serverFrame(0x80, text("x"))), 1002, "a continuation without a message");
    assert.equal(code(concat(serverFrame(0x01, text("a")), serverFrame(0x81, text("b")))), 1002,
                 "a new message inside a fragmented one");
    assert.equal(code(serverFrame(0x82, payloadOf(100), 16)), 1002, "16-bit length for 100 bytes");
    assert.equal(code(serverFrame(0x82, payloadOf(1000), 64)), 1002, "64-bit length for 1000 bytes");
    assert.equal(code(new Uint8Array([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0])), 1002, "64-bit length, top bit set");
    assert.equal(code(serverFrame(0x88, new Uint8Array([3]))), 1002, "a close body of one byte");
    for (const bad of [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]) {
      assert.equal(code(serverFrame(0x88, new Uint8Array([bad >> 8, bad & 0xff]))), 1002, "close code " + bad);
    }
    assert.equal(code(serverFrame(0x88, new Uint8Array([0x03, 0xe8, 0xc3, 0x28]))), 1007, "a close reason not UTF-8");
    assert.equal(code(serverFrame(0x82, payloadOf(101)), { max: 100 }), 1009, "over maxMessageSize");
    assert.equal(code(concat(serverFrame(0x02, payloadOf(60)), serverFrame(0x80, payloadOf(60))), { max: 100 }),
                 1009, "over maxMessageSize across fragments");
    // The size is refused from the header: a 2^52-byte frame is not waited for.
    assert.equal(code(new Uint8Array([0x82, 127, 0, 0x10, 0, 0, 0, 0, 0, 0])), 1009, "a huge declared length");
  },
};

let failed = 0;
for (const [name, check] of Object.entries(checks)) {
  try {
    check();
    console.log("passed " + name);
  } catch (error) {
    failed++;
    console.error("FAILED " + name + ": " + (error.stack || error));
  }
}
process.exit(failed === 0 ? 0 : 1);
