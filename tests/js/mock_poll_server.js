// A stand-in for the server side of the wsx long-polling protocol (docs/long-polling-protocol.md),
// small enough to read, so that wsx.js can be tested without `wsx serve`: it echoes what the
// client sends and obeys commands the client sends as text ("cmd:ping abc", "cmd:lose-next-recv",
// ...) to produce the server behaviour a test needs (fragments, a lost response, 410, bad UTF-8).
// Also serves GET / (an empty page) and /wsx.js, for the browser case, and refuses or ignores
// WebSocket upgrades (the fallback cases).
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");

const WSX_JS = path.join(__dirname, "..", "..", "js", "wsx.js");
const CONTENT_TYPE = "application/x-wsx-poll";
const NO_STORE = { "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff" };

// A server frame (unmasked).
function frame(opcode, payload, fin = true) {
  payload = Buffer.from(payload);
  let header;
  if (payload.length < 126) {
    header = Buffer.from([(fin ? 0x80 : 0) | opcode, payload.length]);
  } else if (payload.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 126;
    header.writeUInt16BE(payload.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = (fin ? 0x80 : 0) | opcode;
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(payload.length), 2);
  }
  return Buffer.concat([header, payload]);
}
function closeBody(code, reason = "") {
  const body = Buffer.alloc(2);
  body.writeUInt16BE(code);
  return Buffer.concat([body, Buffer.from(reason)]);
}
// The byte pattern of "cmd:large N": the client checks every byte.
function pattern(length) {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + 7) & 0xff;
  return bytes;
}

class Session {
  constructor(server, sid, protocol) {
    this.server = server;
    this.sid = sid;
    this.protocol = protocol;
    this.out = Buffer.alloc(0);  // server bytes from offset `outBase` on, not yet acknowledged
    this.outBase = 0;
    this.in = 0;  // client bytes received
    this.rx = Buffer.alloc(0);  // client bytes not yet parsed into frames
    this.fragments = [];
    this.waiting = null;  // the pending recv: {res, ack, timer}
    this.sending = false;
    this.closeSent = null;
    this.closeReceived = null;
    this.over = false;  // 410 once everything is acknowledged
    this.loseNextRecv = false;
    this.loseNextSendAnswer = false;
    // What a test checks.
    this.messages = [];  // {opcode, data: Buffer}
    this.pongs = [];
    this.recvAcks = [];
    this.sendOffsets = [];
  }

  get sentTotal() { return this.outBase + this.out.length; }

  write(bytes) {
    if (this.closeSent) return;
    this.out = Buffer.concat([this.out, bytes]);
    this.flush();
  }
  sendClose(code, reason) {
    this.write(frame(0x8, code === undefined ? Buffer.alloc(0) : closeBody(code, reason)));
    this.closeSent = { code, reason };
    if (this.closeReceived) this.over = true;
    this.flush();
  }

  // Answers the pending recv when there is something to answer.
  flush() {
    const waiting = this.waiting;
    if (!waiting) return;
    if (waiting.ack < this.sentTotal) {
      this.waiting = null;
      clearTimeout(waiting.timer);
      this.answerRecv(waiting.res, waiting.ack);
    } else if (this.over) {
      this.waiting = null;
      clearTimeout(waiting.timer);
      this.gone(waiting.res);
    }
  }
  answerRecv(res, ack) {
    const body = this.out.subarray(ack - this.outBase, ack - this.outBase + (1 << 20));
    if (body.length > 0 && (this.loseNextRecv || this.server.lose())) {
      this.loseNextRecv = false;
      this.server.lostRecvs++;
      res.socket.destroy();  // the bytes went out, the client never sees them
      return;
    }
    res.writeHead(200, { ...NO_STORE, "Content-Type": CONTENT_TYPE, "Wsx-Offset": String(ack) });
    res.end(body);
  }
  gone(res) {
    this.server.sessions.delete(this.sid);
    this.server.ended.push(this);
    res.writeHead(410, { ...NO_STORE, "Content-Type": "application/json" });
    res.end('{"error":"the session is over"}');
  }

  recv(res, ack) {
    this.recvAcks.push(ack);
    if (!Number.isSafeInteger(ack) || ack > this.sentTotal || ack < this.outBase) {
      return json(res, 409, { error: "bad ack" });
    }
    this.out = this.out.subarray(ack - this.outBase);
    this.outBase = ack;
    if (this.waiting) {  // a newer recv answers the older one at once
      const older = this.waiting;
      this.waiting = null;
      clearTimeout(older.timer);
      older.res.writeHead(200, { ...NO_STORE, "Content-Type": CONTENT_TYPE, "Wsx-Offset": String(older.ack) });
      older.res.end();
    }
    if (ack < this.sentTotal) return this.answerRecv(res, ack);
    if (this.over) return this.gone(res);
    const waiting = { res, ack, timer: null };
    waiting.timer = setTimeout(() => {
      if (this.waiting !== waiting) return;
      this.waiting = null;
      res.writeHead(200, { ...NO_STORE, "Content-Type": CONTENT_TYPE, "Wsx-Offset": String(ack) });
      res.end();
    }, this.server.options.poll);
    this.waiting = waiting;
    res.on("close", () => {
      if (this.waiting === waiting) {
        clearTimeout(waiting.timer);
        this.waiting = null;
      }
    });
  }

  send(res, offset, body) {
    this.sendOffsets.push(offset);
    if (this.server.lose()) {  // the request lost on the way: nothing arrived
      this.server.lostSends++;
      res.socket.destroy();
      return;
    }
    if (offset > this.in) return json(res, 409, { error: "gap" });
    const fresh = body.subarray(this.in - offset);
    this.in += fresh.length;
    this.rx = Buffer.concat([this.rx, fresh]);
    const error = this.parse();
    if (error) this.server.errors.push(error);
    if (this.loseNextSendAnswer || this.server.lose()) {
      this.loseNextSendAnswer = false;
      this.server.lostSends++;
      res.socket.destroy();
      return;
    }
    res.writeHead(204, { ...NO_STORE, "Wsx-Offset": String(this.in) });
    res.end();
  }

  // The client's frames: masked, whole or in pieces.
  parse() {
    for (;;) {
      if (this.rx.length < 2) return null;
      const fin = (this.rx[0] & 0x80) !== 0;
      const opcode = this.rx[0] & 0x0f;
      if ((this.rx[1] & 0x80) === 0) return "client frame not masked";
      let length = this.rx[1] & 0x7f;
      let at = 2;
      if (length === 126) {
        if (this.rx.length < 4) return null;
        length = this.rx.readUInt16BE(2);
        at = 4;
      } else if (length === 127) {
        if (this.rx.length < 10) return null;
        length = Number(this.rx.readBigUInt64BE(2));
        at = 10;
      }
      if (this.rx.length < at + 4 + length) return null;
      const key = this.rx.subarray(at, at + 4);
      const payload = Buffer.from(this.rx.subarray(at + 4, at + 4 + length));
      for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
      this.rx = this.rx.subarray(at + 4 + length);
      this.frameIn(fin, opcode, payload);
    }
  }

  frameIn(fin, opcode, payload) {
    if (opcode === 0x8) {
      this.closeReceived = payload.length >= 2
        ? { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString() }
        : { code: 1005, reason: "" };
      if (this.closeSent) {
        this.over = true;
        this.flush();
      } else {
        this.sendClose(payload.length >= 2 ? this.closeReceived.code : undefined, "");
      }
      return;
    }
    if (opcode === 0x9) return this.write(frame(0xa, payload));
    if (opcode === 0xa) return this.pongs.push(payload.toString());
    this.fragments.push(payload);
    if (opcode !== 0) this.messageOpcode = opcode;
    if (!fin) return;
    const data = Buffer.concat(this.fragments);
    this.fragments = [];
    this.messages.push({ opcode: this.messageOpcode, data });
    this.server.onMessage(this, this.messageOpcode, data);
    if (this.messageOpcode === 0x1 && data.toString().startsWith("cmd:")) this.command(data.toString());
    else this.write(frame(this.messageOpcode, data));
  }

  command(text) {
    const [name, ...args] = text.slice(4).split(" ");
    switch (name) {
      case "ping": return this.write(frame(0x9, args.join(" ")));
      case "fragmented": {
        // "héllo wörld" in three text fragments with a ping between them, then a binary
        // message of two fragments: one response carries it all.
        const text = Buffer.from("h\u00e9llo w\u00f6rld");
        this.write(Buffer.concat([
          frame(0x1, text.subarray(0, 2), false), frame(0x9, "between"),
          frame(0x0, text.subarray(2, 7), false), frame(0x0, text.subarray(7), true),
          frame(0x2, Buffer.from([1, 2, 3]), false), frame(0x0, Buffer.from([4, 5]), true),
        ]));
        return;
      }
      case "split": {
        // A message whose frame header and payload arrive in different responses.
        const whole = frame(0x1, "split across responses \u2713");
        this.write(whole.subarray(0, 1));
        setTimeout(() => this.write(whole.subarray(1, 9)), 50);
        setTimeout(() => this.write(whole.subarray(9)), 100);
        return;
      }
      case "large": return this.write(frame(0x2, pattern(Number(args[0]))));
      case "lose-next-recv":
        this.loseNextRecv = true;
        return this.write(frame(0x1, "after loss " + args.join(" ")));
      case "lose-next-send-answer":
        this.loseNextSendAnswer = true;
        return this.write(frame(0x1, "armed"));
      case "bad-utf8": return this.write(frame(0x1, Buffer.from([0x61, 0xc3, 0x28])));
      case "bad-frame": return this.write(Buffer.from([0x80 | 0x40 | 0x1, 0]));  // RSV1, no extension
      case "close": return this.sendClose(Number(args[0]), args.slice(1).join(" "));
      case "gone":
        // The session ends without a close frame (as after the server's own timeout).
        this.over = true;
        this.closeSent = { code: 1006 };
        return this.flush();
      case "drop":  // the session is forgotten: later requests get 404
        this.server.sessions.delete(this.sid);
        if (this.waiting) {
          clearTimeout(this.waiting.timer);
          json(this.waiting.res, 404, { error: "no such session" });
          this.waiting = null;
        }
        return;
      default: return this.write(frame(0x1, "unknown command " + name));
    }
  }
}

function json(res, status, body) {
  res.writeHead(status, { ...NO_STORE, "Content-Type": "application/json" });
  res.end(JSON.stringify(body));
}

class MockPollServer {
  // options: poll (ms a recv is held), upgrade ("refuse" | "hang"), openStatus (refuse opens),
  // sendStatus (answer every send with it), protocols (the subprotocols it supports),
  // lossRate (the share of sends, send answers and recv answers with data that are lost, from a
  // seeded generator: the same run every time).
  constructor(options = {}) {
    this.options = { poll: 1000, timeout: 10000, upgrade: "refuse", protocols: ["superchat"], ...options };
    this.sessions = new Map();
    this.ended = [];
    this.opened = [];
    this.errors = [];
    this.lostRecvs = 0;
    this.lostSends = 0;
    this.requests = [];
    this.messageWaiters = [];
    this.upgrades = 0;
    this.random = 12345;
    this.hanging = [];
    this.http = http.createServer((req, res) => this.handle(req, res));
    this.http.keepAliveTimeout = 30000;
    this.http.on("upgrade", (req, socket) => {
      this.upgrades++;
      if (this.options.upgrade === "hang") return this.hanging.push(socket);
      socket.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    });
  }

  listen() {
    return new Promise((resolve) => this.http.listen(0, "127.0.0.1", () => {
      this.port = this.http.address().port;
      resolve(this.port);
    }));
  }
  close() {
    for (const socket of this.hanging) socket.destroy();
    this.http.closeAllConnections();
    return new Promise((resolve) => this.http.close(resolve));
  }

  // True for a share `lossRate` of the calls (a linear congruential generator, seeded).
  lose() {
    if (!this.options.lossRate) return false;
    this.random = (this.random * 1103515245 + 12345) % 2147483648;
    return this.random / 2147483648 < this.options.lossRate;
  }

  onMessage(session, opcode, data) {
    for (const waiter of this.messageWaiters.splice(0)) waiter();
  }
  // The only session (tests open one at a time), or the last one opened.
  get session() { return this.opened[this.opened.length - 1]; }

  handle(req, res) {
    const url = new URL(req.url, "http://localhost");
    const poll = url.searchParams.get("wsx-poll");
    this.requests.push({ method: req.method, url: req.url, headers: req.headers });
    if (poll === null) return this.file(req, res, url.pathname);
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (poll === "open") return this.open(req, res, url);
      const session = this.sessions.get(req.headers["wsx-session"] || "");
      if (!session) return json(res, 404, { error: "no such session" });
      if (session.csrf !== (req.headers["wsx-csrf"] || null)) return json(res, 403, { error: "csrf" });
      if (poll === "recv" && req.method === "GET") return session.recv(res, Number(url.searchParams.get("ack")));
      if (poll === "send" && req.method === "POST") {
        if (req.headers["content-type"] !== CONTENT_TYPE) return json(res, 415, { error: "content type" });
        if (this.options.sendStatus) {
          session.sendOffsets.push(Number(url.searchParams.get("offset")));
          return json(res, this.options.sendStatus, { error: "as the test asked" });
        }
        return session.send(res, Number(url.searchParams.get("offset")), body);
      }
      json(res, 400, { error: "bad request" });
    });
  }

  open(req, res, url) {
    if (req.method !== "POST") return json(res, 405, { error: "POST" });
    if (req.headers["content-type"] !== CONTENT_TYPE) return json(res, 415, { error: "content type" });
    if (this.options.openStatus) return json(res, this.options.openStatus, { error: "refused" });
    if (this.options.csrf && url.searchParams.get("csrf") !== this.options.csrf) {
      return json(res, 403, { error: "csrf" });
    }
    const offered = (req.headers["wsx-protocol"] || "").split(",").map((s) => s.trim()).filter(Boolean);
    const protocol = offered.find((p) => this.options.protocols.includes(p)) || "";
    const sid = crypto.randomBytes(16).toString("base64url");
    const session = new Session(this, sid, protocol);
    session.csrf = url.searchParams.get("csrf");
    session.offered = offered;
    this.sessions.set(sid, session);
    this.opened.push(session);
    json(res, 200, { sid, protocol, poll: this.options.poll, timeout: this.options.timeout });
  }

  file(req, res, pathname) {
    if (pathname === "/wsx.js") {
      res.writeHead(200, { "Content-Type": "text/javascript; charset=utf-8" });
      return res.end(fs.readFileSync(WSX_JS));
    }
    if (pathname === "/") {
      res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
      return res.end("<!doctype html><title>wsx.js mock</title><script src=\"/wsx.js\"></script>");
    }
    res.writeHead(404);
    res.end();
  }
}

module.exports = { MockPollServer, pattern };
