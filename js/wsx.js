// wsx.js: a WebSocket for browsers that falls back to HTTP long-polling.
//
//   const socket = new WsxSocket("wss://example.com/chat", ["chat"], { csrfToken: token });
//   socket.onmessage = (event) => console.log(event.data, socket.transport);
//
// WsxSocket has the browser WebSocket's interface (readyState, send, close, binaryType,
// bufferedAmount, protocol, extensions, url, on* handlers, addEventListener), so code written
// for WebSocket switches by changing one name. It tries a real WebSocket first; when that fails
// or has not opened within `options.timeout` ms, it opens the same URL over the wsx long-polling
// protocol (docs/long-polling-protocol.md), which carries the very same WebSocket frames over
// HTTP requests, so the server's session, limits, Origin and CSRF checks are those of WebSocket.
//
// Options: transports (["websocket", "polling"], in the order tried), timeout (3000 ms: how
// long the WebSocket handshake may take before polling is tried), csrfToken (sent as csrf= on
// either transport, and as Wsx-Csrf on every later polling request), reconnect (false; true or
// {delay, maxDelay, attempts}: reconnect with exponential backoff after an abnormal close),
// maxMessageSize (64 MiB: a bigger message from the server over polling closes with 1009).
//
// No dependencies, no build step: load it with <script src="/wsx.js"></script> (it defines
// window.WsxSocket) or require() it.
(function (global) {
  "use strict";

  const CONNECTING = 0;
  const OPEN = 1;
  const CLOSING = 2;
  const CLOSED = 3;

  // Taken when the script loads, so that a page may set window.WebSocket = WsxSocket.
  const NativeWebSocket = typeof global.WebSocket === "function" ? global.WebSocket : null;

  const POLL_CONTENT_TYPE = "application/x-wsx-poll";
  const MAX_POST_BYTES = 1 << 20;  // the server accepts at least this much per send
  const REQUEST_TIMEOUT_MS = 20000;  // an open or send with no answer: try again
  const CLOSING_TIMEOUT_MS = 10000;  // a close handshake that does not finish: 1006
  const DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024;

  const OP_CONTINUATION = 0x0;
  const OP_TEXT = 0x1;
  const OP_BINARY = 0x2;
  const OP_CLOSE = 0x8;
  const OP_PING = 0x9;
  const OP_PONG = 0xa;

  const KEEPALIVE_MAX_BYTES = 60000;  // what fetch(keepalive) may carry as a page unloads

  const encoder = new TextEncoder();
  // fatal: invalid UTF-8 must close the connection (1007), never become U+FFFD silently.
  // ignoreBOM: a message starting with U+FEFF keeps it, as the bytes say.
  const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

  // ---------------------------------------------------------------------------------------------
  // Events. CloseEvent is missing outside browsers (Node 20); the stand-in has the same fields.
  const CloseEventType = typeof global.CloseEvent === "function" ? global.CloseEvent
    : class CloseEvent extends Event {
      constructor(type, init = {}) {
        super(type, init);
        this._init = { code: init.code || 0, reason: init.reason || "", wasClean: !!init.wasClean };
      }
      get code() { return this._init.code; }
      get reason() { return this._init.reason; }
      get wasClean() { return this._init.wasClean; }
    };

  function syntaxError(message) { return new DOMException(message, "SyntaxError"); }

  // ---------------------------------------------------------------------------------------------
  // Validation, as the browser's WebSocket does it (WHATWG WebSockets Standard).
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

  function parseSocketUrl(url) {
    let parsed;
    try {
      parsed = typeof location !== "undefined" ? new URL(url, location.href) : new URL(url);
    } catch (error) {
      throw syntaxError("The URL '" + url + "' is invalid.");
    }
    if (parsed.protocol === "http:") parsed.protocol = "ws:";
    else if (parsed.protocol === "https:") parsed.protocol = "wss:";
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
      throw syntaxError("The URL's scheme must be 'ws', 'wss', 'http' or 'https'; '" +
                        parsed.protocol.slice(0, -1) + "' is not allowed.");
    }
    if (parsed.href.includes("#")) {
      throw syntaxError("The URL contains a fragment identifier ('" + parsed.hash + "').");
    }
    return parsed;
  }

  function normalizeProtocols(protocols) {
    const list = protocols === undefined ? [] :
      typeof protocols === "string" ? [protocols] : Array.from(protocols, String);
    const seen = new Set();
    for (const protocol of list) {
      if (!TOKEN.test(protocol)) throw syntaxError("The subprotocol '" + protocol + "' is invalid.");
      if (seen.has(protocol)) throw syntaxError("The subprotocol '" + protocol + "' is duplicated.");
      seen.add(protocol);
    }
    return list;
  }

  // WebIDL [Clamp] unsigned short: NaN is 0, out of range clamps, halves round to even.
  function clampCode(code) {
    let number = Number(code);
    if (Number.isNaN(number)) return 0;
    number = Math.min(Math.max(number, 0), 65535);
    const floor = Math.floor(number);
    const fraction = number - floor;
    if (fraction > 0.5 || (fraction === 0.5 && floor % 2 === 1)) return floor + 1;
    return floor;
  }

  function normalizeTransports(transports) {
    const list = transports === undefined ? ["websocket", "polling"] : Array.from(transports, String);
    if (list.length === 0) throw new TypeError("options.transports is empty");
    for (const name of list) {
      if (name !== "websocket" && name !== "polling") {
        throw new TypeError("options.transports: unknown transport '" + name + "'");
      }
    }
    return list;
  }

  function normalizeReconnect(reconnect) {
    if (!reconnect) return null;
    const given = typeof reconnect === "object" ? reconnect : {};
    return {
      delay: given.delay !== undefined ? Number(given.delay) : 500,
      maxDelay: given.maxDelay !== undefined ? Number(given.maxDelay) : 30000,
      attempts: given.attempts !== undefined ? Number(given.attempts) : Infinity,
    };
  }

  // Closes after which a reconnect makes sense: the network or the server went away. Not the
  // application's own verdicts (1000, 1008, 3000-4999) nor protocol errors, which would repeat.
  function isReconnectable(code) {
    return code === 1001 || code === 1005 || code === 1006 || code === 1011 || code === 1012 ||
           code === 1013 || code === 1014;
  }

  function byteSize(data) {
    if (typeof data === "string") return encoder.encode(data).length;
    if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return data.byteLength;
    if (typeof Blob === "function" && data instanceof Blob) return data.size;
    return encoder.encode(String(data)).length;
  }

  function bytesOf(data) {  // a view, no copy: encodeFrame() copies as it masks
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }

  function concat(parts) {
    if (parts.length === 1) return parts[0];
    let length = 0;
    for (const part of parts) length += part.length;
    const whole = new Uint8Array(length);
    let at = 0;
    for (const part of parts) {
      whole.set(part, at);
      at += part.length;
    }
    return whole;
  }

  // ---------------------------------------------------------------------------------------------
  // RFC 6455 section 5: the client's frames, masked with a fresh random key each.
  function encodeFrame(opcode, payload) {
    const length = payload.length;
    const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
    const headerLength = 2 + lengthBytes + 4;
    const frame = new Uint8Array(headerLength + length);
    frame[0] = 0x80 | opcode;  // FIN: the client never fragments
    if (lengthBytes === 0) {
      frame[1] = 0x80 | length;
    } else if (lengthBytes === 2) {
      frame[1] = 0x80 | 126;
      frame[2] = length >>> 8;
      frame[3] = length & 0xff;
    } else {
      frame[1] = 0x80 | 127;
      const high = Math.floor(length / 0x100000000);
      const view = new DataView(frame.buffer);
      view.setUint32(2, high);
      view.setUint32(6, length >>> 0);
    }
    const key = crypto.getRandomValues(new Uint8Array(4));
    frame.set(key, headerLength - 4);
    for (let i = 0; i < length; i++) frame[headerLength + i] = payload[i] ^ key[i & 3];
    return frame;
  }

  function closePayload(code, reasonBytes) {
    if (code === undefined) return new Uint8Array(0);
    const payload = new Uint8Array(2 + reasonBytes.length);
    payload[0] = code >>> 8;
    payload[1] = code & 0xff;
    payload.set(reasonBytes, 2);
    return payload;
  }

  function isValidCloseCode(code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
  }

  // The server's frames, fed in pieces of any size. Calls handler.frameMessage(opcode, bytes),
  // .framePing(bytes), .frameClose(code, reason) and .frameFail(code, why): a broken rule of the
  // peer is a close code (1002 protocol, 1007 bad UTF-8, 1009 too big), after which it stops.
  class FrameReader {
    constructor(handler, maxMessageSize) {
      this.handler = handler;
      this.maxMessageSize = maxMessageSize;
      this.header = new Uint8Array(10);
      this.headerLength = 0;
      this.frame = null;  // {fin, opcode, remaining, parts} while reading a payload
      this.messageOpcode = 0;  // of the fragmented message under way (0: none)
      this.messageParts = [];
      this.messageSize = 0;
      this.stopped = false;
    }

    push(bytes) {
      let at = 0;
      while (!this.stopped && (at < bytes.length || (this.frame && this.frame.remaining === 0))) {
        if (this.frame === null) {
          this.header[this.headerLength++] = bytes[at++];
          if (this.headerLength >= 2 && this.headerLength === this.headerNeeded()) this.startFrame();
          continue;
        }
        const take = Math.min(this.frame.remaining, bytes.length - at);
        if (take > 0) this.frame.parts.push(bytes.subarray(at, at + take));
        at += take;
        this.frame.remaining -= take;
        if (this.frame.remaining === 0) this.endFrame();
      }
    }

    headerNeeded() {
      const length7 = this.header[1] & 0x7f;
      return length7 === 126 ? 4 : length7 === 127 ? 10 : 2;
    }

    fail(code, why) {
      this.stopped = true;
      this.handler.frameFail(code, why);
    }

    startFrame() {
      const h = this.header;
      const fin = (h[0] & 0x80) !== 0;
      const opcode = h[0] & 0x0f;
      this.headerLength = 0;
      if (h[0] & 0x70) return this.fail(1002, "reserved bits set without an extension");
      if (h[1] & 0x80) return this.fail(1002, "the server masked a frame");
      let length = h[1] & 0x7f;
      if (length === 126) {
        length = (h[2] << 8) | h[3];
        if (length < 126) return this.fail(1002, "length not in its shortest form");
      } else if (length === 127) {
        const view = new DataView(h.buffer);
        const high = view.getUint32(2);
        if (high & 0x80000000) return this.fail(1002, "64-bit length with its top bit set");
        length = high * 0x100000000 + view.getUint32(6);
        if (length < 65536) return this.fail(1002, "length not in its shortest form");
      }
      if (opcode & 0x8) {
        if (opcode !== OP_CLOSE && opcode !== OP_PING && opcode !== OP_PONG) {
          return this.fail(1002, "reserved control opcode " + opcode);
        }
        if (!fin) return this.fail(1002, "fragmented control frame");
        if (length > 125) return this.fail(1002, "control frame longer than 125 bytes");
      } else {
        if (opcode !== OP_CONTINUATION && opcode !== OP_TEXT && opcode !== OP_BINARY) {
          return this.fail(1002, "reserved data opcode " + opcode);
        }
        if (opcode === OP_CONTINUATION && this.messageOpcode === 0) {
          return this.fail(1002, "continuation frame without a message");
        }
        if (opcode !== OP_CONTINUATION && this.messageOpcode !== 0) {
          return this.fail(1002, "new message before the previous one ended");
        }
        if (this.messageSize + length > this.maxMessageSize) {
          return this.fail(1009, "message larger than " + this.maxMessageSize + " bytes");
        }
        if (opcode !== OP_CONTINUATION) this.messageOpcode = opcode;
        this.messageSize += length;
      }
      this.frame = { fin, opcode, remaining: length, parts: [] };
    }

    endFrame() {
      const frame = this.frame;
      this.frame = null;
      if (frame.opcode & 0x8) return this.control(frame.opcode, concat(frame.parts));
      for (const part of frame.parts) this.messageParts.push(part);
      if (!frame.fin) return;
      const opcode = this.messageOpcode;
      const payload = concat(this.messageParts);
      this.messageOpcode = 0;
      this.messageParts = [];
      this.messageSize = 0;
      this.handler.frameMessage(opcode, payload);
    }

    control(opcode, payload) {
      if (opcode === OP_PING) return this.handler.framePing(payload);
      if (opcode === OP_PONG) return;  // unsolicited or not: nothing to do
      if (payload.length === 1) return this.fail(1002, "close frame with a one-byte body");
      let code = 1005;
      let reason = "";
      if (payload.length >= 2) {
        code = (payload[0] << 8) | payload[1];
        if (!isValidCloseCode(code)) return this.fail(1002, "invalid close code " + code);
        try {
          reason = strictDecoder.decode(payload.subarray(2));
        } catch (error) {
          return this.fail(1007, "close reason is not UTF-8");
        }
      }
      this.stopped = true;  // nothing may follow a close frame
      this.handler.frameClose(code, reason);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The WebSocket carrier: the browser's own WebSocket, its events passed on.
  class NativeCarrier {
    constructor(owner, url, protocols) {
      this.owner = owner;
      this.opened = false;
      this.done = false;
      this.ws = new NativeWebSocket(url, protocols);
      this.ws.binaryType = owner._binaryType;
      this.ws.onopen = () => {
        this.opened = true;
        owner._carrierOpened(this, this.ws.protocol, this.ws.extensions);
      };
      this.ws.onmessage = (event) => owner._carrierMessage(this, event.data);
      this.ws.onerror = () => {
        if (!this.opened) return this.failedToOpen();
        owner._carrierError(this);
      };
      this.ws.onclose = (event) => {
        if (!this.opened) return this.failedToOpen();
        this.done = true;
        owner._carrierClosed(this, event.code, event.reason, event.wasClean);
      };
    }
    failedToOpen() {
      if (this.done) return;
      this.abort();
      this.owner._carrierFailed(this);
    }
    get readyState() { return this.ws.readyState; }
    get bufferedAmount() { return this.ws.bufferedAmount; }
    set binaryType(type) { this.ws.binaryType = type; }
    send(data) { this.ws.send(data); }
    close(code, reasonBytes, reason) {
      if (code === undefined) this.ws.close();
      else this.ws.close(code, reason);
    }
    abort() {  // silently: no event of this socket reaches the application any more
      this.done = true;
      const ignore = () => {};  // (not null: Node's ws throws an error no one listens to)
      this.ws.onopen = this.ws.onmessage = this.ws.onerror = this.ws.onclose = ignore;
      if (this.ws.readyState <= OPEN) this.ws.close();
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The polling carrier: the same frames over HTTP (docs/long-polling-protocol.md). One recv
  // request at a time, acknowledging by byte offset what arrived; one send at a time, from the
  // offset the server last confirmed, so a lost request or response is repeated, never a gap or
  // a duplicate.
  class PollingCarrier {
    constructor(owner, socketUrl, protocols, csrfToken, maxMessageSize) {
      this.owner = owner;
      this.protocols = protocols;
      this.csrfToken = csrfToken;
      const http = new URL(socketUrl.href);
      http.protocol = socketUrl.protocol === "wss:" ? "https:" : "http:";
      this.path = http.origin + http.pathname;
      const query = http.search.slice(1);
      this.openUrl = this.path + "?" + (query ? query + "&" : "") + "wsx-poll=open";
      this.state = "opening";  // opening, open, closing, draining (reported, ending), done
      this.sid = null;
      this.poll = 25000;
      this.sessionTimeout = 60000;
      this.received = 0;  // server bytes fully received: the ack
      this.reader = new FrameReader(this, maxMessageSize);
      this.tx = [];  // unacknowledged bytes, from offset `sent`
      this.txSkip = 0;  // bytes of tx[0] already acknowledged
      this.sent = 0;  // client bytes the server confirmed
      this.queued = 0;  // client bytes queued in all
      this.messages = [];  // {end, size}: what bufferedAmount counts until confirmed
      this.buffered = 0;
      this.sending = false;
      this.sendEnded = false;
      this.blobs = null;  // a promise while Blobs are being read: later sends wait behind it
      this.sentClose = false;
      this.receivedClose = null;
      this.unloading = false;
      this.controllers = new Set();
      this.timers = new Set();
    }

    get readyState() { return this.owner._readyState; }
    get bufferedAmount() { return this.buffered; }
    set binaryType(type) {}

    headers(extra) {
      const headers = Object.assign({}, extra);
      if (this.sid === null) return headers;  // open: the token is in the query, as for WebSocket
      headers["Wsx-Session"] = this.sid;
      if (this.csrfToken !== null) headers["Wsx-Csrf"] = this.csrfToken;
      return headers;
    }

    // Resolves {status, headers, bytes}; rejects on a network error, a timeout or an abort.
    request(method, url, headers, body, timeoutMs) {
      const controller = new AbortController();
      this.controllers.add(controller);
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      // keepalive: the request outlives the page (only while it unloads; it limits the size).
      const keepalive = this.unloading && body !== undefined && body.length <= KEEPALIVE_MAX_BYTES;
      return fetch(url, {
        method, headers: this.headers(headers), body, cache: "no-store", credentials: "same-origin",
        redirect: "error", signal: controller.signal, keepalive,
      }).then((response) => response.arrayBuffer().then((buffer) => ({
        status: response.status, headers: response.headers, bytes: new Uint8Array(buffer),
      }))).finally(() => {
        clearTimeout(timer);
        this.controllers.delete(controller);
      });
    }

    wait(ms) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, ms);
        this.timers.add(timer);
      });
    }

    open() {
      const extra = { "Content-Type": POLL_CONTENT_TYPE };
      if (this.protocols.length > 0) extra["Wsx-Protocol"] = this.protocols.join(", ");
      this.request("POST", this.openUrl, extra, undefined, REQUEST_TIMEOUT_MS).then((response) => {
        if (this.state !== "opening") return;
        if (response.status !== 200) return this.openFailed();
        let answer;
        try {
          answer = JSON.parse(strictDecoder.decode(response.bytes));
        } catch (error) {
          return this.openFailed();
        }
        const protocol = typeof answer.protocol === "string" ? answer.protocol : "";
        if (typeof answer.sid !== "string" || !/^[A-Za-z0-9_-]{16,}$/.test(answer.sid)) {
          return this.openFailed();
        }
        // Subprotocols offered and none chosen fails the connection, as the browser's WebSocket
        // does: accepted here, a route that speaks none of them opened over polling after the
        // WebSocket had failed for that very reason.
        if ((protocol !== "" && !this.protocols.includes(protocol)) ||
            (protocol === "" && this.protocols.length > 0)) {
          return this.abandon(answer.sid);
        }
        this.sid = answer.sid;
        if (Number.isFinite(answer.poll) && answer.poll > 0) this.poll = answer.poll;
        if (Number.isFinite(answer.timeout) && answer.timeout > 0) this.sessionTimeout = answer.timeout;
        this.state = "open";
        livePolling.add(this);
        this.owner._carrierOpened(this, protocol, "");
        this.receiveLoop();
        this.pump();
      }, () => {
        if (this.state === "opening") this.openFailed();
      });
    }

    openFailed() {
      this.shutdown();
      this.owner._carrierFailed(this);
    }

    // An open answer refused after the server made its session: the session is closed as a
    // client closes one (a close frame, the server's answer acknowledged up to its 410), or it
    // would live on at the server until its timeout (60 s in wsx serve), in its connection
    // list meanwhile. The application sees the failure at once; this carrier is no longer its.
    abandon(sid) {
      this.sid = sid;
      this.state = "draining";
      this.sentClose = true;
      this.queueFrame(OP_CLOSE, closePayload(1002, encoder.encode("subprotocol not acceptable")), 0);
      this.receiveLoop();
      this.closingTimer();
      this.owner._carrierFailed(this);
    }

    // Retries after network errors and 5xx grow from 100 ms to 2 s, for as long as the server
    // keeps the session (its `timeout`); after that the session is gone anyway.
    async receiveLoop() {
      let failures = 0;
      let quickEmpty = 0;
      let lastAnswer = Date.now();
      while (this.state !== "done") {
        const asked = Date.now();
        let response = null;
        try {
          response = await this.request("GET", this.path + "?wsx-poll=recv&ack=" + this.received,
                                        {}, undefined, this.poll + REQUEST_TIMEOUT_MS);
        } catch (error) {
          response = null;
        }
        if (this.state === "done") return;
        const status = response ? response.status : 0;
        if (status === 0 || status === 502 || status === 503 || status === 504) {
          if (Date.now() - lastAnswer > this.sessionTimeout) return this.lost();
          await this.wait(Math.min(2000, 100 * 2 ** failures++));
          continue;
        }
        failures = 0;
        lastAnswer = Date.now();
        if (status === 410) return this.sessionOver();
        if (status !== 200) return this.lost();
        const bytes = response.bytes;
        if (bytes.length === 0) {  // the poll ran out
          // Empty answers that do not wait (a server or proxy not holding the request) would
          // make this loop spin: slow down, 50 ms doubling to 2 s.
          if (Date.now() - asked < 100) await this.wait(Math.min(2000, 50 * 2 ** quickEmpty++));
          else quickEmpty = 0;
          continue;
        }
        quickEmpty = 0;
        // The body starts at `offset` (the ack we sent unless it says otherwise), at or before
        // what we have: skip what we have.
        const header = response.headers.get("Wsx-Offset");
        const offset = header === null ? this.received : Number(header);
        if (!Number.isSafeInteger(offset) || offset > this.received ||
            offset + bytes.length < this.received) {
          return this.lost();
        }
        const fresh = bytes.subarray(this.received - offset);
        this.received += fresh.length;
        if (this.state !== "draining") this.reader.push(fresh);
      }
    }

    // FrameReader's handler.
    frameMessage(opcode, payload) {
      if (this.state !== "open") return;
      let data;
      if (opcode === OP_TEXT) {
        try {
          data = strictDecoder.decode(payload);
        } catch (error) {
          return this.frameFail(1007, "text message is not UTF-8");
        }
      } else if (this.owner._binaryType === "arraybuffer") {
        data = payload.byteOffset === 0 && payload.byteLength === payload.buffer.byteLength
          ? payload.buffer : payload.slice().buffer;
      } else {
        data = new Blob([payload]);
      }
      this.owner._carrierMessage(this, data);
    }
    framePing(payload) {
      if (!this.sentClose) this.queueFrame(OP_PONG, payload, 0);
    }
    frameClose(code, reason) {
      if (this.state === "draining") return;
      this.receivedClose = { code, reason };
      if (!this.sentClose) {
        // Echo the code (none for none), as browsers do.
        this.sentClose = true;
        this.queueFrame(OP_CLOSE, closePayload(code === 1005 ? undefined : code, new Uint8Array(0)), 0);
      }
      this.state = "closing";
      this.owner._carrierClosing(this);
      this.closingTimer();
    }
    // A rule the server broke: tell it with the code, report 1006 now, and end the session
    // quietly (our close frame out, its answer in, 410).
    frameFail(code, why) {
      if (!this.sentClose) {
        this.sentClose = true;
        const reason = encoder.encode(why).subarray(0, 123);
        this.queueFrame(OP_CLOSE, closePayload(code, reason), 0);
      }
      this.report(1006, "", false, true);
      this.closingTimer();
    }

    // The application's calls.
    send(data) {
      if (typeof Blob === "function" && data instanceof Blob) {
        const size = data.size;
        this.buffered += size;
        this.afterBlobs(() => data.arrayBuffer().then((buffer) => {
          this.buffered -= size;
          this.queueIfOpen(OP_BINARY, new Uint8Array(buffer));
        }, () => {
          this.buffered -= size;
          this.frameFail(1011, "a Blob could not be read");
        }));
        return;
      }
      const opcode = typeof data === "string" ? OP_TEXT : OP_BINARY;
      let payload = typeof data === "string" ? encoder.encode(data) : bytesOf(data);
      if (this.blobs === null) return this.queueFrame(opcode, payload, payload.length);
      // Behind the Blobs being read, to keep the order; a copy, as the caller may change its
      // buffer once send() returns.
      if (typeof data !== "string") payload = payload.slice();
      this.buffered += payload.length;
      this.afterBlobs(() => {
        this.buffered -= payload.length;
        this.queueIfOpen(opcode, payload);
      });
    }
    afterBlobs(task) {
      const chain = (this.blobs || Promise.resolve()).then(task);
      this.blobs = chain;
      chain.then(() => {
        if (this.blobs === chain) this.blobs = null;
      });
    }
    queueIfOpen(opcode, payload) {
      if (this.state === "open" || this.state === "closing") {
        this.queueFrame(opcode, payload, payload.length);
      }
    }
    close(code, reasonBytes) {
      if (this.state === "opening") {
        this.shutdown();
        return;
      }
      if (this.sentClose) return;
      this.sentClose = true;
      this.queueFrame(OP_CLOSE, closePayload(code, reasonBytes), 0);
      this.closingTimer();
    }
    abort() { this.shutdown(); }
    goingAway() {
      this.unloading = true;
      if (this.state === "open" && !this.sentClose) {
        this.sentClose = true;
        this.queueFrame(OP_CLOSE, closePayload(1001, new Uint8Array(0)), 0);
      }
    }

    closingTimer() {
      if (this.closeTimer) return;
      this.closeTimer = setTimeout(() => {
        this.report(1006, "", false, false);
        this.shutdown();
      }, CLOSING_TIMEOUT_MS);
      this.timers.add(this.closeTimer);
    }

    queueFrame(opcode, payload, countedSize) {
      const frame = encodeFrame(opcode, payload);
      this.tx.push(frame);
      this.queued += frame.length;
      if (countedSize > 0) {
        this.messages.push({ end: this.queued, size: countedSize });
        this.buffered += countedSize;
      }
      this.pump();
    }

    // The next bytes to send: from `sent`, at most MAX_POST_BYTES.
    pending() {
      const parts = [];
      let length = 0;
      for (let i = 0; i < this.tx.length && length < MAX_POST_BYTES; i++) {
        let part = i === 0 ? this.tx[0].subarray(this.txSkip) : this.tx[i];
        if (length + part.length > MAX_POST_BYTES) part = part.subarray(0, MAX_POST_BYTES - length);
        parts.push(part);
        length += part.length;
      }
      return concat(parts);
    }

    confirm(offset) {
      let drop = offset - this.sent;
      this.sent = offset;
      while (drop > 0) {
        const left = this.tx[0].length - this.txSkip;
        if (drop < left) {
          this.txSkip += drop;
          break;
        }
        drop -= left;
        this.tx.shift();
        this.txSkip = 0;
      }
      while (this.messages.length > 0 && this.messages[0].end <= offset) {
        this.buffered -= this.messages.shift().size;
      }
    }

    pump() {
      if (this.sending || this.sendEnded || this.sid === null || this.state === "done" ||
          this.queued === this.sent) {
        return;
      }
      this.sending = true;
      this.sendLoop().finally(() => {
        this.sending = false;
        if (this.queued > this.sent) this.pump();
      });
    }

    async sendLoop() {
      let failures = 0;
      let lastAnswer = Date.now();
      while (this.state !== "done" && this.queued > this.sent) {
        const offset = this.sent;
        const body = this.pending();
        let response = null;
        try {
          // No timeout shorter than the session's: the server holds a send while the session
          // does not read (backpressure), which is the flow control.
          response = await this.request("POST", this.path + "?wsx-poll=send&offset=" + offset,
                                        { "Content-Type": POLL_CONTENT_TYPE }, body,
                                        this.sessionTimeout + REQUEST_TIMEOUT_MS);
        } catch (error) {
          response = null;
        }
        if (this.state === "done") return;
        const status = response ? response.status : 0;
        // 409 too: after a send we gave up on, the server may still hold it for a while.
        if (status === 0 || status === 409 || status === 502 || status === 503 || status === 504) {
          if (Date.now() - lastAnswer > this.sessionTimeout) return this.lost();
          await this.wait(Math.min(2000, 100 * 2 ** failures++));
          continue;
        }
        failures = 0;
        lastAnswer = Date.now();
        if (status === 404 || status === 410) {  // the session ended: recv reports it
          this.sendEnded = true;
          return;
        }
        if (status !== 204 && status !== 200) return this.lost();
        const confirmed = Number(response.headers.get("Wsx-Offset"));
        const end = offset + body.length;
        this.confirm(Number.isSafeInteger(confirmed) && confirmed > offset && confirmed <= end
          ? confirmed : end);
      }
    }

    // 410: the session is over and we have everything.
    sessionOver() {
      const clean = this.receivedClose !== null && this.sentClose;
      if (this.receivedClose) this.report(this.receivedClose.code, this.receivedClose.reason, clean, false);
      else this.report(1006, "", false, false);
      this.shutdown();
    }

    // The session vanished (404, timeouts, a broken answer).
    lost() {
      this.report(1006, "", false, this.state !== "closing");
      this.shutdown();
    }

    report(code, reason, wasClean, error) {
      if (this.state === "draining" || this.state === "done") return;
      this.state = "draining";
      this.owner._carrierClosed(this, code, reason, wasClean, error);
    }

    shutdown() {
      this.state = "done";
      livePolling.delete(this);
      for (const controller of this.controllers) controller.abort();
      for (const timer of this.timers) clearTimeout(timer);
      clearTimeout(this.closeTimer);
      this.controllers.clear();
      this.timers.clear();
    }
  }

  // A page going away closes its WebSockets with 1001; polling sessions are told the same, or
  // the server would wait for its session timeout to notice.
  const livePolling = new Set();
  if (typeof addEventListener === "function" && typeof document !== "undefined") {
    addEventListener("pagehide", () => {
      for (const carrier of livePolling) carrier.goingAway();
    });
  }

  // ---------------------------------------------------------------------------------------------
  class WsxSocket extends EventTarget {
    constructor(url, protocols, options) {
      super();
      if (arguments.length === 0) throw new TypeError("WsxSocket needs a URL");
      this._parsedUrl = parseSocketUrl(String(url));
      this._protocols = normalizeProtocols(protocols);
      options = options || {};
      this._transports = normalizeTransports(options.transports);
      this._timeout = options.timeout !== undefined ? Number(options.timeout) : 3000;
      this._csrfToken = options.csrfToken !== undefined && options.csrfToken !== null
        ? String(options.csrfToken) : this._parsedUrl.searchParams.get("csrf");
      this._reconnect = normalizeReconnect(options.reconnect);
      this._maxMessageSize = options.maxMessageSize !== undefined ? Number(options.maxMessageSize)
        : DEFAULT_MAX_MESSAGE;
      this._readyState = CONNECTING;
      this._binaryType = "blob";
      this._protocol = "";
      this._extensions = "";
      this._transport = "";
      this._carrier = null;
      this._closeAsked = false;
      this._bufferedAfterClose = 0;
      this._attempts = 0;
      this._timer = null;
      this._handlers = {};
      this._connect();
    }

    get url() { return this._parsedUrl.href; }
    get readyState() {
      // A WebSocket's own state moves to CLOSING before its close event reaches us.
      const carrier = this._carrier;
      if (carrier instanceof NativeCarrier && this._readyState === OPEN) return carrier.readyState;
      return this._readyState;
    }
    get bufferedAmount() {
      return (this._carrier ? this._carrier.bufferedAmount : 0) + this._bufferedAfterClose;
    }
    get protocol() { return this._protocol; }
    get extensions() { return this._extensions; }
    get transport() { return this._transport; }
    get binaryType() { return this._binaryType; }
    set binaryType(type) {
      if (type !== "blob" && type !== "arraybuffer") return;  // ignored, as by WebSocket
      this._binaryType = type;
      if (this._carrier) this._carrier.binaryType = type;
    }

    send(data) {
      if (arguments.length === 0) throw new TypeError("send() needs data");
      if (this.readyState === CONNECTING) {
        throw new DOMException("Still in CONNECTING state.", "InvalidStateError");
      }
      if (this.readyState !== OPEN) {
        this._bufferedAfterClose += byteSize(data);  // as WebSocket: counted, not sent
        return;
      }
      if (!(typeof data === "string" || data instanceof ArrayBuffer || ArrayBuffer.isView(data) ||
            (typeof Blob === "function" && data instanceof Blob))) {
        data = String(data);
      }
      this._carrier.send(data);
    }

    close(code, reason) {
      if (code !== undefined) {
        code = clampCode(code);
        if (code !== 1000 && !(code >= 3000 && code <= 4999)) {
          throw new DOMException("The close code must be either 1000, or between 3000 and 4999. " +
                                 code + " is neither.", "InvalidAccessError");
        }
      }
      let reasonBytes = new Uint8Array(0);
      if (reason !== undefined) {
        reason = String(reason);
        reasonBytes = encoder.encode(reason);
        if (reasonBytes.length > 123) {
          throw syntaxError("The close reason must not be greater than 123 UTF-8 bytes.");
        }
      }
      // A reason without a code closes with 1000 (WHATWG WebSockets, close()).
      if (code === undefined && reason !== undefined) code = 1000;
      this._closeAsked = true;
      const state = this._readyState;
      if (state === CLOSING || state === CLOSED) return;
      if (state === CONNECTING) {
        // As WebSocket: the connection fails, with error and close (1006) events.
        clearTimeout(this._timer);
        if (this._carrier) this._carrier.abort();
        this._carrier = null;
        this._readyState = CLOSING;
        setTimeout(() => this._finish(1006, "", false, true), 0);
        return;
      }
      this._readyState = CLOSING;
      this._carrier.close(code, reasonBytes, reason);
    }

    // -------------------------------------------------------------------------------------------
    _connect() {
      this._next = 0;
      this._tryNextTransport();
    }

    _tryNextTransport() {
      clearTimeout(this._timer);
      this._carrier = null;
      if (this._readyState !== CONNECTING) return;
      const name = this._transports[this._next++];
      if (name === undefined) {
        this._finish(1006, "", false, true);
        return;
      }
      const url = this._urlWithToken();
      if (name === "websocket") {
        if (NativeWebSocket === null) return this._tryNextTransport();
        let carrier;
        try {
          carrier = new NativeCarrier(this, url.href, this._protocols);
        } catch (error) {
          // ws: from an https: page: the browser's verdict, for polling as well.
          if (error.name === "SecurityError") throw error;
          return this._tryNextTransport();
        }
        this._carrier = carrier;
        // Only worth waiting for when something else may be tried.
        if (this._next < this._transports.length) {
          this._timer = setTimeout(() => {
            carrier.abort();
            this._tryNextTransport();
          }, this._timeout);
        }
        return;
      }
      const carrier = new PollingCarrier(this, url, this._protocols, this._csrfToken,
                                         this._maxMessageSize);
      this._carrier = carrier;
      carrier.open();
    }

    // The URL with the CSRF token in its query (csrf=), unless it has one already.
    _urlWithToken() {
      const url = new URL(this._parsedUrl.href);
      if (this._csrfToken !== null && !url.searchParams.has("csrf")) {
        url.search = url.search + (url.search ? "&" : "?") + "csrf=" +
                     encodeURIComponent(this._csrfToken);
      }
      return url;
    }

    _carrierFailed(carrier) {
      if (carrier !== this._carrier) return;
      this._tryNextTransport();
    }

    _carrierOpened(carrier, protocol, extensions) {
      if (carrier !== this._carrier) return;
      clearTimeout(this._timer);
      this._protocol = protocol;
      this._extensions = extensions;
      this._transport = carrier instanceof NativeCarrier ? "websocket" : "polling";
      this._readyState = OPEN;
      this._attempts = 0;
      this.dispatchEvent(new Event("open"));
    }

    _carrierMessage(carrier, data) {
      if (carrier !== this._carrier || this._readyState !== OPEN) return;
      this.dispatchEvent(new MessageEvent("message", { data, origin: this._parsedUrl.origin }));
    }

    _carrierError(carrier) {
      if (carrier !== this._carrier) return;
      this.dispatchEvent(new Event("error"));
    }

    _carrierClosing(carrier) {
      if (carrier === this._carrier && this._readyState === OPEN) this._readyState = CLOSING;
    }

    _carrierClosed(carrier, code, reason, wasClean, error) {
      if (carrier !== this._carrier) return;
      this._finish(code, reason, wasClean, error);
    }

    _finish(code, reason, wasClean, error) {
      if (this._readyState === CLOSED) return;
      clearTimeout(this._timer);
      this._readyState = CLOSED;
      // A WebSocket carrier stays ours (its bufferedAmount); a polling one may still be ending.
      if (error) this.dispatchEvent(new Event("error"));
      this.dispatchEvent(new CloseEventType("close", { code, reason, wasClean }));
      if (this._reconnect && !this._closeAsked && isReconnectable(code) &&
          this._attempts < this._reconnect.attempts) {
        const delay = Math.min(this._reconnect.maxDelay, this._reconnect.delay * 2 ** this._attempts);
        this._attempts++;
        this._readyState = CONNECTING;
        this._carrier = null;
        this._bufferedAfterClose = 0;
        // Jitter: clients that lost the same server do not all come back at the same instant.
        this._timer = setTimeout(() => this._connect(), delay * (0.5 + Math.random() / 2));
      }
    }
  }

  for (const [name, value] of [["CONNECTING", CONNECTING], ["OPEN", OPEN], ["CLOSING", CLOSING],
                               ["CLOSED", CLOSED]]) {
    Object.defineProperty(WsxSocket, name, { value, enumerable: true });
    Object.defineProperty(WsxSocket.prototype, name, { value, enumerable: true });
  }

  // onopen and friends: one listener each, added when first set, calling the current handler.
  for (const type of ["open", "message", "error", "close"]) {
    Object.defineProperty(WsxSocket.prototype, "on" + type, {
      get() { return this._handlers[type] || null; },
      set(handler) {
        if (!(type in this._handlers)) {
          this.addEventListener(type, (event) => {
            const current = this._handlers[type];
            if (current) current.call(this, event);
          });
        }
        this._handlers[type] = typeof handler === "function" ? handler : null;
      },
      enumerable: true,
      configurable: true,
    });
  }

  // For tests and tools: the frame codec.
  WsxSocket.codec = { encodeFrame, FrameReader };

  if (typeof module === "object" && module.exports) module.exports = WsxSocket;
  else global.WsxSocket = WsxSocket;
})(typeof globalThis !== "undefined" ? globalThis : this);
