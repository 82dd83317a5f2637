// wsx.js's long-polling transport and its WebSocket-like API, in Node against the mock server
// of tests/js/mock_poll_server.js: node wsx_polling_test.js CASE. Node 20 has fetch, Blob,
// EventTarget, MessageEvent and crypto.getRandomValues, and no WebSocket, so WsxSocket goes
// straight to polling; the fallback cases lend it Debian's node-ws as WebSocket.
"use strict";
const assert = require("node:assert/strict");
const path = require("node:path");
const { MockPollServer, pattern } = require("./mock_poll_server.js");

const WSX_JS = path.join(__dirname, "..", "..", "js", "wsx.js");
// Node 18 has Web Crypto only as a module; browsers and Node 20 have the global.
if (!globalThis.crypto) globalThis.crypto = require("node:crypto").webcrypto;
const NODE_WS = "/usr/share/nodejs/ws";
const WAIT_MS = 20000;  // any single wait, generous for a loaded machine

function loadWsx(withWebSocket) {
  if (withWebSocket) {
    try {
      globalThis.WebSocket = require(NODE_WS);
    } catch (error) {
      throw new Error("Debian's node-ws is missing (" + NODE_WS + "): bash scripts/install-deps.sh");
    }
  }
  return require(WSX_JS);
}

function withTimeout(promise, what) {
  let timer;
  return Promise.race([promise, new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error("timed out waiting for " + what)), WAIT_MS);
  })]).finally(() => clearTimeout(timer));
}
function once(target, type) {
  return withTimeout(new Promise((resolve) => target.addEventListener(type, resolve, { once: true })),
                     "the " + type + " event");
}
// Collects every message event; next() resolves with the next one not yet taken.
function inbox(socket) {
  const queue = [];
  const waiters = [];
  socket.addEventListener("message", (event) => {
    if (waiters.length > 0) waiters.shift()(event.data);
    else queue.push(event.data);
  });
  return {
    next: () => queue.length > 0 ? Promise.resolve(queue.shift())
      : withTimeout(new Promise((resolve) => waiters.push(resolve)), "a message"),
    get pending() { return queue.length; },
  };
}
// Waits for a condition on the mock's state, which has no events of its own.
async function until(condition, what) {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
async function openSocket(WsxSocket, server, protocols, options = {}) {
  const socket = new WsxSocket("ws://127.0.0.1:" + server.port + "/echo", protocols,
                               { transports: ["polling"], ...options });
  await once(socket, "open");
  return socket;
}
const bytes = (data) => new Uint8Array(data);

const cases = {
  // Open over polling: the subprotocol the server chose, the transport, the state; text with
  // non-ASCII characters, binary as ArrayBuffer, as a view of part of a buffer, and as Blob.
  async open_echo(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server, ["chat", "superchat"]);
    assert.equal(socket.transport, "polling");
    assert.equal(socket.protocol, "superchat");
    assert.equal(socket.extensions, "");
    assert.equal(socket.readyState, WsxSocket.OPEN);
    assert.deepEqual(server.session.offered, ["chat", "superchat"]);
    const messages = inbox(socket);
    const text = "h\u00e9llo \u65e5\u672c \u2713 \ud83d\ude00";
    socket.send(text);
    assert.ok(socket.bufferedAmount > 0, "bufferedAmount counts the queued message");
    assert.equal(await messages.next(), text);
    await until(() => socket.bufferedAmount === 0, "bufferedAmount back to 0");
    socket.binaryType = "arraybuffer";
    socket.send(new Uint8Array([0, 1, 2, 255]).buffer);
    assert.deepEqual(bytes(await messages.next()), new Uint8Array([0, 1, 2, 255]));
    const big = new Uint8Array([9, 8, 7, 6, 5, 4]);
    socket.send(big.subarray(2, 5));
    big[3] = 0;  // after send(): the copy went out
    assert.deepEqual(bytes(await messages.next()), new Uint8Array([7, 6, 5]));
    socket.binaryType = "blob";
    socket.send(new Blob([new Uint8Array([42, 43])]));
    socket.send("after the blob");
    const blob = await messages.next();
    assert.ok(blob instanceof Blob, "binaryType blob gives a Blob");
    assert.deepEqual(bytes(await blob.arrayBuffer()), new Uint8Array([42, 43]));
    assert.equal(await messages.next(), "after the blob", "a string sent after a Blob stays after it");
    socket.send(12345);  // anything else is sent as its string, as WebSocket does
    assert.equal(await messages.next(), "12345");
    assert.equal(server.errors.length, 0, server.errors.join("\n"));
  },

  // The server's fragmented messages with a ping between fragments; a frame split across
  // responses; messages of 3 MB both ways (several responses and several sends of 1 MiB).
  async fragmented_large(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    socket.binaryType = "arraybuffer";
    const messages = inbox(socket);
    socket.send("cmd:fragmented");
    assert.equal(await messages.next(), "h\u00e9llo w\u00f6rld");
    assert.deepEqual(bytes(await messages.next()), new Uint8Array([1, 2, 3, 4, 5]));
    await until(() => server.session.pongs.includes("between"), "the pong of the ping between fragments");
    socket.send("cmd:split");
    assert.equal(await messages.next(), "split across responses \u2713");
    socket.send("cmd:large 3000000");
    const large = bytes(await messages.next());
    assert.equal(large.length, 3000000);
    assert.ok(Buffer.from(large).equals(pattern(3000000)), "3 MB from the server arrive intact");
    const upload = pattern(2500000);
    socket.send(upload);
    assert.ok(Buffer.from(bytes(await messages.next())).equals(upload), "2.5 MB to the server and back");
    const offsets = server.session.sendOffsets;
    assert.ok(offsets.length >= 3, "the upload went in pieces of at most 1 MiB: " + offsets);
    assert.equal(server.errors.length, 0, server.errors.join("\n"));
  },

  // Three in twenty sends, send answers and recv answers with data lost: 100 messages of
  // assorted sizes (text and binary, some over 64 KiB), sent five at a time, all come back once,
  // in order, intact.
  async lossy(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    socket.binaryType = "arraybuffer";
    const messages = inbox(socket);
    server.options.lossRate = 0.15;
    for (let round = 0; round < 20; round++) {
      const sent = [];
      for (let j = 0; j < 5; j++) {
        const i = round * 5 + j;
        const size = i % 10 === 9 ? 70000 + i : (i * 37) % 500;
        const payload = pattern(size);
        payload[0] = i & 0xff;
        sent.push(i % 3 === 0 ? "text " + i + " \u2713".repeat(size % 7) : payload);
        socket.send(sent[j]);
      }
      for (let j = 0; j < sent.length; j++) {
        const got = await messages.next();
        if (typeof sent[j] === "string") assert.equal(got, sent[j], "message " + (round * 5 + j));
        else assert.ok(Buffer.from(bytes(got)).equals(sent[j]), "message " + (round * 5 + j) + " intact");
      }
      assert.equal(messages.pending, 0, "no duplicate");
    }
    assert.ok(server.lostSends >= 1 && server.lostRecvs >= 1 && server.lostSends + server.lostRecvs >= 4,
              "losses happened: " + server.lostSends + " sends, " + server.lostRecvs + " recvs");
    assert.equal(server.errors.length, 0, server.errors.join("\n"));
    await until(() => socket.bufferedAmount === 0, "everything confirmed");
  },

  // A ping from the server gets a pong with the same payload.
  async ping_pong(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    socket.send("cmd:ping are you there \u2713");
    await until(() => server.session.pongs.includes("are you there \u2713"), "the pong");
  },

  // A recv response lost on the way: the client asks again with the same ack and gets the
  // same bytes: the message arrives once, and what follows arrives in order.
  async lost_recv(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const messages = inbox(socket);
    socket.send("cmd:lose-next-recv 1");
    assert.equal(await messages.next(), "after loss 1");
    assert.equal(server.lostRecvs, 1);
    const acks = server.session.recvAcks;
    assert.ok(acks.some((ack, i) => i > 0 && ack === acks[i - 1]), "asked again with the same ack: " + acks);
    socket.send("one");
    socket.send("two");
    assert.equal(await messages.next(), "one");
    assert.equal(await messages.next(), "two");
    assert.equal(messages.pending, 0, "no duplicate");
  },

  // A send whose answer is lost: sent again from the same offset, the server skips what it
  // has: "payload" reaches it once.
  async lost_send(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const messages = inbox(socket);
    socket.send("cmd:lose-next-send-answer");
    assert.equal(await messages.next(), "armed");
    socket.send("payload");
    assert.equal(await messages.next(), "payload");
    socket.send("next");
    assert.equal(await messages.next(), "next");
    assert.equal(server.lostSends, 1);
    const offsets = server.session.sendOffsets;
    assert.ok(offsets.some((offset, i) => i > 0 && offset === offsets[i - 1]), "sent again from the same offset: " + offsets);
    assert.deepEqual(server.session.messages.map((m) => m.data.toString()),
                     ["cmd:lose-next-send-answer", "payload", "next"]);
    assert.equal(messages.pending, 0);
  },

  // close(code, reason) from the client: the server sees them, echoes, and the close event
  // has the echoed code, wasClean; the session ends with 410.
  async close_client(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const closed = once(socket, "close");
    let errors = 0;
    socket.onerror = () => errors++;
    socket.close(4000, "bye \u2713");
    assert.equal(socket.readyState, WsxSocket.CLOSING);
    const event = await closed;
    assert.deepEqual(server.session.closeReceived, { code: 4000, reason: "bye \u2713" });
    assert.equal(event.code, 4000);
    assert.equal(event.wasClean, true);
    assert.equal(socket.readyState, WsxSocket.CLOSED);
    assert.equal(errors, 0);
    assert.equal(server.ended.length, 1, "the session ended with 410");
    socket.send("after close");  // counted, not sent
    assert.equal(socket.bufferedAmount, 11);
  },

  // close(undefined, reason): a reason needs a code, and it is 1000 (as WebSocket does).
  async close_reason_only(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const closed = once(socket, "close");
    socket.close(undefined, "only a reason");
    assert.equal((await closed).code, 1000);
    assert.deepEqual(server.session.closeReceived, { code: 1000, reason: "only a reason" });
  },

  // The server closes: the client echoes the code and reports it, wasClean.
  async close_server(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const closed = once(socket, "close");
    socket.send("cmd:close 4001 server says bye");
    const event = await closed;
    assert.equal(event.code, 4001);
    assert.equal(event.reason, "server says bye");
    assert.equal(event.wasClean, true);
    assert.equal(server.session.closeReceived.code, 4001, "the client echoed the code");
  },

  // 410 without a close frame: the session ended under the client: 1006, not clean.
  async gone_410(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const closed = once(socket, "close");
    socket.send("cmd:gone");
    const event = await closed;
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
  },

  // Invalid UTF-8 in a text message: the server gets close 1007; the page sees error, then
  // close 1006 (as a browser WebSocket reports a connection it failed).
  async invalid_utf8(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const order = [];
    socket.onerror = () => order.push("error");
    socket.onmessage = (event) => order.push("message " + event.data);
    const closed = once(socket, "close");
    socket.send("cmd:bad-utf8");
    const event = await closed;
    order.push("close");
    assert.deepEqual(order, ["error", "close"]);
    assert.equal(event.code, 1006);
    assert.equal(event.wasClean, false);
    await until(() => server.session.closeReceived !== null, "the client's close frame");
    assert.equal(server.session.closeReceived.code, 1007);
  },

  // A frame with a reserved bit and no extension: close 1002 to the server.
  async protocol_error(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server);
    const closed = once(socket, "close");
    socket.send("cmd:bad-frame");
    assert.equal((await closed).code, 1006);
    await until(() => server.session.closeReceived !== null, "the client's close frame");
    assert.equal(server.session.closeReceived.code, 1002);
  },

  // A send answered 410 (the session ended) is not repeated: the recv request will learn the
  // end; until it does, no stream of sends.
  async send_after_end(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server, [], {});
    server.options.sendStatus = 410;
    socket.send("into an ended session");
    await until(() => server.session.sendOffsets.length >= 1, "the send");
    await new Promise((resolve) => setTimeout(resolve, 500));  // what must not happen: more sends
    assert.equal(server.session.sendOffsets.length, 1, "sends after 410: " + server.session.sendOffsets.length);
  },

  // A server (or proxy) that answers every recv at once with nothing: the client slows down
  // instead of spinning, and still gets what comes.
  async quick_empty_polls(server, WsxSocket) {
    server.options.poll = 0;
    const socket = await openSocket(WsxSocket, server);
    const start = server.session.recvAcks.length;
    await new Promise((resolve) => setTimeout(resolve, 1000));  // what must not happen: a spin
    const polls = server.session.recvAcks.length - start;
    assert.ok(polls <= 15, polls + " recv requests in a second");
    const messages = inbox(socket);
    socket.send("still talking");
    assert.equal(await messages.next(), "still talking");
  },

  // The open request refused (as for a missing CSRF token): error, then close 1006, no open.
  async open_refused(server, WsxSocket) {
    server.options.openStatus = 403;
    const socket = new WsxSocket("ws://127.0.0.1:" + server.port + "/echo", [], { transports: ["polling"] });
    const order = [];
    socket.onopen = () => order.push("open");
    socket.onerror = () => order.push("error");
    const event = await once(socket, "close");
    assert.deepEqual(order, ["error"]);
    assert.equal(event.code, 1006);
    assert.equal(socket.readyState, WsxSocket.CLOSED);
  },

  // Subprotocols offered, none chosen by the server: error, then close 1006, no open, as the
  // browser's WebSocket fails such a handshake (polling opened with protocol "").
  async subprotocol_not_chosen(server, WsxSocket) {
    const socket = new WsxSocket("ws://127.0.0.1:" + server.port + "/echo", ["chat"], { transports: ["polling"] });
    const order = [];
    socket.onopen = () => order.push("open");
    socket.onerror = () => order.push("error");
    const event = await once(socket, "close");
    assert.deepEqual(order, ["error"]);
    assert.equal(event.code, 1006);
    assert.deepEqual(server.session.offered, ["chat"], "the offer reached the server");
    // The session the open made is closed, not left to the server's timeout: a close frame
    // (1002), the server's answer acknowledged, its 410.
    await until(() => server.ended.includes(server.session), "the abandoned session to end");
    assert.equal(server.session.closeReceived.code, 1002);
    assert.equal(server.sessions.size, 0);
  },

  // options.csrfToken goes in the open request's query and in Wsx-Csrf on every later one.
  async csrf_token(server, WsxSocket) {
    server.options.csrf = "t0ken-with+chars/=";
    const socket = await openSocket(WsxSocket, server, [], { csrfToken: "t0ken-with+chars/=" });
    const messages = inbox(socket);
    socket.send("with token");
    assert.equal(await messages.next(), "with token");
    const later = server.requests.filter((r) => /wsx-poll=(send|recv)/.test(r.url));
    assert.ok(later.length >= 2);
    assert.ok(later.every((r) => r.headers["wsx-csrf"] === "t0ken-with+chars/="), "Wsx-Csrf on every request");
    assert.ok(later.every((r) => !r.url.includes("csrf=")), "the token is not in later URLs");
  },

  // The WebSocket's handshake refused (a proxy that strips Upgrade): polling takes over.
  async fallback_refused(server, WsxSocket) {
    const socket = new WsxSocket("ws://127.0.0.1:" + server.port + "/echo");
    let errors = 0;
    socket.onerror = () => errors++;
    await once(socket, "open");
    assert.equal(server.upgrades, 1, "WebSocket was tried first");
    assert.equal(socket.transport, "polling");
    assert.equal(errors, 0, "the failed WebSocket is not reported");
    const messages = inbox(socket);
    socket.send("over polling");
    assert.equal(await messages.next(), "over polling");
  },

  // The WebSocket's handshake never answered: polling after options.timeout.
  async fallback_timeout(server, WsxSocket) {
    server.options.upgrade = "hang";
    const started = Date.now();
    const socket = new WsxSocket("ws://127.0.0.1:" + server.port + "/echo", [], { timeout: 300 });
    await once(socket, "open");
    assert.equal(socket.transport, "polling");
    assert.equal(server.upgrades, 1);
    assert.ok(Date.now() - started >= 300, "waited for the timeout");
  },

  // options.transports: ["websocket"] alone does not fall back.
  async websocket_only(server, WsxSocket) {
    const socket = new WsxSocket("ws://127.0.0.1:" + server.port + "/echo", [], { transports: ["websocket"] });
    const event = await once(socket, "close");
    assert.equal(event.code, 1006);
    assert.equal(server.opened.length, 0, "no polling session was opened");
  },

  // reconnect: the session lost under the client (404): close 1006, then a new session opens.
  async reconnect(server, WsxSocket) {
    const socket = await openSocket(WsxSocket, server, [], { reconnect: { delay: 50 } });
    const closed = once(socket, "close");
    socket.send("cmd:drop");
    assert.equal((await closed).code, 1006);
    assert.equal(socket.readyState, WsxSocket.CONNECTING, "reconnecting");
    await once(socket, "open");
    assert.equal(server.opened.length, 2);
    const messages = inbox(socket);
    socket.send("again");
    assert.equal(await messages.next(), "again");
    const closedForGood = once(socket, "close");
    socket.close();
    assert.equal((await closedForGood).code, 1005, "a close without a code is echoed without one");
    assert.equal(socket.readyState, WsxSocket.CLOSED, "no reconnect after close()");
  },

  // What the browser's WebSocket throws, WsxSocket throws.
  async api(server, WsxSocket) {
    const names = (fn) => {
      try {
        fn();
      } catch (error) {
        return error.name;
      }
      return "no exception";
    };
    const url = "ws://127.0.0.1:" + server.port + "/echo";
    assert.equal(names(() => new WsxSocket("ftp://127.0.0.1/x")), "SyntaxError");
    assert.equal(names(() => new WsxSocket("ws://127.0.0.1/x#frag")), "SyntaxError");
    assert.equal(names(() => new WsxSocket("not a url")), "SyntaxError");
    assert.equal(names(() => new WsxSocket(url, ["a", "a"])), "SyntaxError");
    assert.equal(names(() => new WsxSocket(url, ["bad token"])), "SyntaxError");
    assert.equal(names(() => new WsxSocket(url, [], { transports: ["carrier-pigeon"] })), "TypeError");
    assert.equal(new WsxSocket("http://127.0.0.1:1/x", [], { transports: ["polling"] }).url, "ws://127.0.0.1:1/x");
    assert.deepEqual([WsxSocket.CONNECTING, WsxSocket.OPEN, WsxSocket.CLOSING, WsxSocket.CLOSED], [0, 1, 2, 3]);
    const socket = new WsxSocket(url, "superchat", { transports: ["polling"] });
    assert.equal(socket.OPEN, 1);
    assert.equal(socket.readyState, WsxSocket.CONNECTING);
    assert.equal(socket.binaryType, "blob");
    socket.binaryType = "text";  // ignored
    assert.equal(socket.binaryType, "blob");
    assert.equal(names(() => socket.send("too early")), "InvalidStateError");
    for (const code of [999, 1001, 1005, 2999, 5000, 65535]) {
      assert.equal(names(() => socket.close(code)), "InvalidAccessError", "close(" + code + ")");
    }
    assert.equal(names(() => socket.close(1000, "x".repeat(124))), "SyntaxError");
    assert.equal(names(() => socket.close(1000, "\u00e9".repeat(62))), "SyntaxError", "124 bytes of UTF-8");
    await once(socket, "open");
    let handled = null;
    socket.onclose = (event) => { handled = event; };
    assert.equal(typeof socket.onclose, "function");
    const listened = once(socket, "close");
    assert.equal(names(() => socket.close(3000.5, "\u00e9".repeat(61))), "no exception");  // [Clamp]: 3000
    const event = await listened;
    assert.equal(event.code, 3000);
    assert.equal(event.reason, "");  // the mock echoes the code only
    assert.equal(handled, event, "onclose and addEventListener see the same event");
    assert.equal(server.session.closeReceived.reason, "\u00e9".repeat(61));
    // close() while connecting: error, then close 1006, as WebSocket.
    const early = new WsxSocket(url, [], { transports: ["polling"] });
    const order = [];
    early.onopen = () => order.push("open");
    early.onerror = () => order.push("error");
    early.close();
    assert.equal(early.readyState, WsxSocket.CLOSING);
    assert.equal((await once(early, "close")).code, 1006);
    assert.deepEqual(order, ["error"]);
  },
};

async function main() {
  const name = process.argv[2];
  const test = cases[name];
  if (!test) {
    console.error("usage: node wsx_polling_test.js CASE; cases: " + Object.keys(cases).join(" "));
    process.exit(2);
  }
  const deadline = setTimeout(() => {
    console.error("FAILED " + name + ": no result within 60 s");
    process.exit(1);
  }, 60000);
  const WsxSocket = loadWsx(name.startsWith("fallback") || name === "websocket_only");
  const server = new MockPollServer({ poll: 1000 });
  await server.listen();
  try {
    await test(server, WsxSocket);
    console.log("passed " + name);
  } catch (error) {
    console.error("FAILED " + name + ": " + (error.stack || error));
    process.exitCode = 1;
  } finally {
    clearTimeout(deadline);
    await server.close();
    // Sockets of the client may still be ending (a session left open): do not wait for them.
    setImmediate(() => process.exit());
  }
}
main();
