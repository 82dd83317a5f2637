// Browser tests of wsx.js (js/wsx.js, served by `wsx serve` at /wsx.js) in headless chromium:
// node wsxjs_test.js WSX_BINARY CASE, where a case is one browser running these steps:
//   serve:        websocket  against wsx serve: /wsx.js as served, then one scenario run with the
//                            browser's WebSocket and with WsxSocket must log the same events,
//                            values and exceptions
//                 fallback   window.WebSocket replaced by one that always fails: WsxSocket goes
//                            on to long polling (POST ?wsx-poll=open): echo of text and binary,
//                            and two polling members of a /chat room hearing each other
//                 other_origin  a page of another origin is refused on both transports
//                 csrf       a wsx serve --csrf of its own: options.csrfToken opens, none or a
//                            tampered one is refused (over polling too)
//                 reconnect  options.reconnect across a restart of wsx serve on the same port
//   polling_mock: the mock polling server of tests/js (it refuses WebSocket upgrades, so
//                 chromium's real WebSocket fails first): echo, fragments, 3 MB, a lost response,
//                 ping, close both ways, 410, bad UTF-8, all through chromium's fetch; leaving
//                 the page closes the polling session with 1001
"use strict";
const path = require("node:path");
const { check, runCase, startServe } = require("./harness.js");
const { MockPollServer } = require(path.join(__dirname, "..", "js", "mock_poll_server.js"));

const NON_ASCII = "h\u00e9llo \u65e5\u672c \u2713 \ud83d\ude00";

// Page-side helpers, installed as window.t (functions cannot be passed to evaluate()).
async function installHelpers(page) {
  await page.evaluate(() => {
    const WAIT = 20000;
    const timed = (promise, what) => Promise.race([promise, new Promise((_, reject) =>
      setTimeout(() => reject(new Error("timed out waiting for " + what)), WAIT))]);
    window.t = {
      event: (socket, type) => timed(new Promise((resolve) =>
        socket.addEventListener(type, resolve, { once: true })), type),
      // Every message event, in order; next() the next one not yet taken.
      inbox(socket) {
        const queue = [];
        const waiters = [];
        socket.addEventListener("message", (event) => {
          if (waiters.length > 0) waiters.shift()(event.data);
          else queue.push(event.data);
        });
        return {
          next: () => queue.length > 0 ? Promise.resolve(queue.shift())
            : timed(new Promise((resolve) => waiters.push(resolve)), "a message"),
          get pending() { return queue.length; },
        };
      },
      errorName(fn) {
        try {
          fn();
        } catch (error) {
          return error.name;
        }
        return "no exception";
      },
      async bytes(data) {
        const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
        return Array.from(new Uint8Array(buffer));
      },
    };
  });
}

async function loadWsx(page) {
  await page.addScriptTag({ url: "/wsx.js" });
  check(await page.evaluate(() => typeof WsxSocket) === "function", "wsx.js defines WsxSocket");
  await installHelpers(page);
}

const cases = {
  async websocket({ page, base }) {
    await page.goto(base + "/");
    const served = await page.evaluate(async () => {
      const response = await fetch("/wsx.js");
      return { status: response.status, type: response.headers.get("content-type"),
               nosniff: response.headers.get("x-content-type-options"), text: await response.text() };
    });
    check(served.status === 200, "GET /wsx.js: " + served.status);
    check(served.type === "text/javascript; charset=utf-8", "Content-Type: " + served.type);
    check(served.nosniff === "nosniff", "X-Content-Type-Options: " + served.nosniff);
    check(served.text.includes("class WsxSocket extends EventTarget"), "the file is wsx.js");
    await loadWsx(page);
    const url = base.replace("http:", "ws:") + "/echo";
    const logs = await page.evaluate(async ({ url, text }) => {
      async function scenario(Socket) {
        const log = [];
        for (const bad of ["ftp://127.0.0.1/x", url + "#fragment", "ws://[bad"]) {
          log.push(["constructor " + bad, t.errorName(() => new Socket(bad))]);
        }
        log.push(["duplicate protocols", t.errorName(() => new Socket(url, ["a", "a"]))]);
        log.push(["constants", Socket.CONNECTING, Socket.OPEN, Socket.CLOSING, Socket.CLOSED]);
        const socket = new Socket(url);
        log.push(["constructed", socket.readyState, socket.url, socket.protocol, socket.binaryType,
                  socket.bufferedAmount, socket.OPEN]);
        log.push(["send while connecting", t.errorName(() => socket.send("early"))]);
        for (const code of [999, 1001, 1005, 2999, 5000]) {
          log.push(["close(" + code + ")", t.errorName(() => socket.close(code))]);
        }
        log.push(["close reason of 124 bytes", t.errorName(() => socket.close(1000, "\u00e9".repeat(62)))]);
        socket.binaryType = "bogus";
        log.push(["binaryType after bogus", socket.binaryType]);
        const messages = t.inbox(socket);
        const opened = await t.event(socket, "open");
        log.push(["open", opened.type, opened.target === socket, socket.readyState, socket.protocol]);
        socket.send(text);
        log.push(["text", await messages.next()]);
        socket.binaryType = "arraybuffer";
        socket.send(new Uint8Array([0, 1, 128, 255]).buffer);
        const buffer = await messages.next();
        log.push(["arraybuffer", buffer instanceof ArrayBuffer, await t.bytes(buffer)]);
        socket.send(new Uint16Array([0x0102, 0x0304, 0x0506]).subarray(1, 2));
        log.push(["view", await t.bytes(await messages.next())]);
        socket.binaryType = "blob";
        socket.send(new Blob([new Uint8Array([7, 8, 9])]));
        const blob = await messages.next();
        log.push(["blob", blob instanceof Blob, await t.bytes(blob)]);
        const closed = t.event(socket, "close");
        socket.close(4000, "bye \u2713");
        log.push(["closing", socket.readyState]);
        const event = await closed;
        log.push(["close", event instanceof CloseEvent, event.code, event.reason, event.wasClean,
                  socket.readyState]);
        socket.send("after close");
        log.push(["bufferedAmount after close", socket.bufferedAmount]);
        log.push(["close again", t.errorName(() => socket.close())]);
        return { log, transport: socket.transport };
      }
      const logs = { native: await scenario(WebSocket), wsx: await scenario(WsxSocket) };
      // As a drop-in: window.WebSocket = WsxSocket still reaches the browser's own WebSocket.
      const original = window.WebSocket;
      window.WebSocket = WsxSocket;
      const shimmed = new WebSocket(url);
      await t.event(shimmed, "open");
      logs.shimmed = [shimmed instanceof WsxSocket, shimmed.transport];
      shimmed.close();
      await t.event(shimmed, "close");
      window.WebSocket = original;
      return logs;
    }, { url, text: NON_ASCII });
    check(logs.wsx.transport === "websocket", "transport: " + logs.wsx.transport);
    check(JSON.stringify(logs.shimmed) === '[true,"websocket"]', "window.WebSocket = WsxSocket: " + logs.shimmed);
    const native = logs.native.log;
    const wsx = logs.wsx.log;
    for (let i = 0; i < Math.max(native.length, wsx.length); i++) {
      check(JSON.stringify(native[i]) === JSON.stringify(wsx[i]),
            "step " + i + ": WebSocket " + JSON.stringify(native[i]) + ", WsxSocket " + JSON.stringify(wsx[i]));
    }
    // The scenario itself saw what it should (not only the same as WebSocket).
    const step = (name) => wsx.find((entry) => entry[0] === name);
    check(step("text")[1] === NON_ASCII, "text echoed: " + JSON.stringify(step("text")));
    check(JSON.stringify(step("close")) === JSON.stringify(["close", true, 4000, "", true, 3]),  // echo: the code
          "close: " + JSON.stringify(step("close")));
    check(step("close(1001)")[1] === "InvalidAccessError", JSON.stringify(step("close(1001)")));
  },

  // A page of another origin (the mock's) gets neither transport: the WebSocket is refused by
  // the Origin check (403), and the polling requests never leave the browser (their custom
  // headers need a CORS preflight the server does not grant).
  async other_origin({ page, base, server }) {
    const mock = new MockPollServer();
    await mock.listen();
    const logged = server.lines.length;
    try {
      await page.goto("http://127.0.0.1:" + mock.port + "/");
      await installHelpers(page);
      const events = await page.evaluate(async ({ url }) => {
        const socket = new WsxSocket(url);
        const events = [];
        socket.onopen = () => events.push("open");
        socket.onerror = () => events.push("error");
        const event = await t.event(socket, "close");
        return [...events, "close " + event.code];
      }, { url: base.replace("http:", "ws:") + "/echo" });
      check(JSON.stringify(events) === '["error","close 1006"]', "from another origin: " + events);
      const lines = server.lines.slice(logged);
      check(lines.some((l) => /"GET \/echo" 403 /.test(l)), "the WebSocket refused: " + lines.join("\n"));
      check(!lines.some((l) => l.includes('"POST /echo')), "no polling request got through: " + lines.join("\n"));
    } finally {
      await mock.close();
    }
  },

  // (its own wsx serve --csrf, beside the case's server)
  async csrf({ page, wsx }) {
    const server = await startServe(wsx, ["--csrf"]);
    try {
      await csrfWith(page, server);
    } finally {
      server.process.kill("SIGTERM");
    }
  },
};

async function csrfWith(page, server) {
  const base = "http://127.0.0.1:" + server.port;
  await page.goto(base + "/");
  await loadWsx(page);
  const url = base.replace("http:", "ws:") + "/echo";
  const result = await page.evaluate(async ({ url }) => {
    const token = document.querySelector('meta[name="wsx-csrf-token"]').content;
    const socket = new WsxSocket(url, [], { csrfToken: token });
    const messages = t.inbox(socket);
    await t.event(socket, "open");
    socket.send("with a token");
    const echo = await messages.next();
    socket.close();
    await t.event(socket, "close");
    const refused = async (options) => {
      const other = new WsxSocket(url, [], options);
      const events = [];
      other.onopen = () => events.push("open");
      other.onerror = () => events.push("error");
      const event = await t.event(other, "close");
      return [...events, "close " + event.code];
    };
    const tampered = token.slice(0, 50) + (token[50] === "A" ? "B" : "A") + token.slice(51);
    const result = { transport: socket.transport, echo, without: await refused({ transports: ["websocket"] }),
                     tampered: await refused({ transports: ["websocket"], csrfToken: tampered }) };
    // Polling with the token: opens when the server has the long-polling carrier; then without
    // a token, or with a tampered one, it is refused as WebSocket is.
    const polling = new WsxSocket(url, [], { transports: ["polling"], csrfToken: token });
    const first = await Promise.race([t.event(polling, "open"), t.event(polling, "close")]);
    result.pollingOpened = first.type === "open";
    if (result.pollingOpened) {
      const pollingMessages = t.inbox(polling);
      polling.send("polling with a token");
      result.pollingEcho = await pollingMessages.next();
      polling.close();
      await t.event(polling, "close");
      result.pollingWithout = await refused({ transports: ["polling"] });
      result.pollingTampered = await refused({ transports: ["polling"], csrfToken: tampered });
    }
    return result;
  }, { url });
  check(result.pollingOpened && result.pollingEcho === "polling with a token", "over polling: " + JSON.stringify(result));
  check(JSON.stringify(result.pollingWithout) === '["error","close 1006"]', "polling, no token: " + result.pollingWithout);
  check(JSON.stringify(result.pollingTampered) === '["error","close 1006"]', "polling, tampered: " + result.pollingTampered);
  check(result.transport === "websocket" && result.echo === "with a token", JSON.stringify(result));
  check(JSON.stringify(result.without) === '["error","close 1006"]', "no token: " + result.without);
  check(JSON.stringify(result.tampered) === '["error","close 1006"]', "tampered: " + result.tampered);
  check(server.lines.some((l) => /"GET \/echo\?csrf=\[redacted\]" 403 .*reason="csrf token forged"/.test(l)),
        "the tampered token refused by the server: " + server.lines.join("\n"));
}

Object.assign(cases, {

  async fallback({ page, base }) {
    await page.goto(base + "/");
    // As a network that strips Upgrade: every WebSocket fails, before wsx.js takes its copy.
    await page.evaluate(() => {
      window.WebSocket = class BlockedWebSocket extends EventTarget {
        constructor() {
          super();
          this.readyState = 0;
          setTimeout(() => {
            this.readyState = 3;
            if (this.onerror) this.onerror(new Event("error"));
            if (this.onclose) this.onclose(new CloseEvent("close", { code: 1006 }));
          }, 10);
        }
        close() {}
      };
    });
    await loadWsx(page);
    const opens = [];
    page.on("request", (request) => {
      if (request.url().includes("wsx-poll=open")) {
        opens.push({ method: request.method(), url: request.url(), type: request.headers()["content-type"] });
      }
    });
    const url = base.replace("http:", "ws:") + "/echo?room=a%20b";
    const result = await page.evaluate(async ({ url, chatUrl }) => {
      const socket = new WsxSocket(url);
      const events = [];
      socket.onopen = () => events.push("open");
      socket.onerror = () => events.push("error");
      const opened = await Promise.race([t.event(socket, "open"), t.event(socket, "close")]);
      if (opened.type !== "open") return { events, transport: socket.transport, code: opened.code };
      const messages = t.inbox(socket);
      socket.send("over polling \u2713");
      const echo = await messages.next();
      socket.binaryType = "arraybuffer";
      socket.send(new Uint8Array([0, 1, 128, 255]));
      const binary = await t.bytes(await messages.next());
      socket.close(4002);
      const closed = await t.event(socket, "close");
      // Chat over polling: two members of one room each hear both messages (text and binary),
      // the sender included, in the room's order.
      const members = [new WsxSocket(chatUrl), new WsxSocket(chatUrl)];
      await Promise.all(members.map((member) => t.event(member, "open")));
      const inboxes = members.map((member) => { member.binaryType = "arraybuffer"; return t.inbox(member); });
      // (the second message is sent once the first came back, so the room's order is known)
      members[0].send("room \u65e5\u672c");
      const firsts = [await inboxes[0].next()];
      members[1].send(new Uint8Array([9, 8, 7]));
      firsts.push(await inboxes[1].next());
      const chat = [];
      for (const [i, inbox] of inboxes.entries()) chat.push([firsts[i], await t.bytes(await inbox.next())]);
      const transports = members.map((member) => member.transport);
      for (const member of members) member.close();
      await Promise.all(members.map((member) => t.event(member, "close")));
      return { events, transport: socket.transport, echo, binary, code: closed.code, chat, transports };
    }, { url, chatUrl: base.replace("http:", "ws:") + "/chat/fallback" });
    check(opens.length === 3, "one polling open per socket: " + JSON.stringify(opens));
    check(opens[0].method === "POST" && opens[0].type === "application/x-wsx-poll" &&
          opens[0].url === base + "/echo?room=a%20b&wsx-poll=open", "the open request: " + JSON.stringify(opens[0]));
    // The server has the long-polling carrier (wsx serve offers it on /echo and /chat).
    check(result.events[0] === "open" && result.transport === "polling" &&
          result.echo === "over polling \u2713" && JSON.stringify(result.binary) === "[0,1,128,255]" &&
          result.code === 4002, "over polling: " + JSON.stringify(result));
    const heard = JSON.stringify(["room \u65e5\u672c", [9, 8, 7]]);
    check(JSON.stringify(result.transports) === '["polling","polling"]' &&
          result.chat.every((member) => JSON.stringify(member) === heard),
          "chat over polling: " + JSON.stringify(result));
  },

  // options.reconnect: the server restarts mid-session (same port); the page sees the close,
  // then the socket opens again by itself and talks to the new server.
  async reconnect({ page, base, server, wsx }) {
    await page.goto(base + "/");
    await loadWsx(page);
    const url = base.replace("http:", "ws:") + "/echo";
    await page.evaluate(async ({ url }) => {
      const socket = new WsxSocket(url, [], { reconnect: { delay: 200, maxDelay: 1000 } });
      window.reconnecting = { socket, events: [], messages: t.inbox(socket) };
      for (const type of ["open", "close", "error"]) {
        socket.addEventListener(type, (event) => window.reconnecting.events.push(
          type + (type === "close" ? " " + event.code + " " + socket.readyState : "")));
      }
      await t.event(socket, "open");
      socket.send("before");
      if (await window.reconnecting.messages.next() !== "before") throw new Error("no echo");
    }, { url });
    const port = server.port;
    const stopped = new Promise((resolve) => server.process.once("exit", resolve));
    server.process.kill("SIGTERM");
    await stopped;
    const restarted = await startServe(wsx, [], {}, port);
    try {
      const result = await page.evaluate(async () => {
        const { socket, events, messages } = window.reconnecting;
        while (events.filter((e) => e === "open").length < 2) await t.event(socket, "open");
        socket.send("after");
        const echo = await messages.next();
        const closed = t.event(socket, "close");
        socket.close(1000);
        await closed;
        return { events, echo, transport: socket.transport, state: socket.readyState };
      });
      check(result.echo === "after" && result.transport === "websocket", JSON.stringify(result));
      // (failed attempts while the server is down add error and close 1006 events)
      const events = result.events.filter((e) => e !== "error");
      check(events[0] === "open" && /^close 10(01|06) 3$/.test(events[1]) &&
            events[events.length - 2] === "open" && events[events.length - 1] === "close 1000 3",
            "open, close, (failed attempts), open, close: " + JSON.stringify(result.events));
      check(result.state === 3, "closed for good after close()");
    } finally {
      restarted.process.kill("SIGTERM");
    }
  },

  async polling_mock({ page }) {
    const mock = new MockPollServer({ poll: 1000 });
    await mock.listen();
    try {
      const base = "http://127.0.0.1:" + mock.port;
      await page.goto(base + "/");
      check(await page.evaluate(() => typeof WsxSocket) === "function", "wsx.js loaded");
      await installHelpers(page);
      const url = "ws://127.0.0.1:" + mock.port + "/echo";
      const result = await page.evaluate(async ({ url, text }) => {
        const out = {};
        const socket = new WsxSocket(url, ["superchat"], { timeout: 10000 });
        const messages = t.inbox(socket);
        await t.event(socket, "open");
        out.opened = [socket.transport, socket.protocol, socket.readyState];
        socket.send(text);
        out.text = await messages.next();
        socket.binaryType = "arraybuffer";
        socket.send(new Uint8Array([0, 1, 128, 255]));
        out.binary = await t.bytes(await messages.next());
        socket.binaryType = "blob";
        socket.send(new Blob([new Uint8Array([7, 8, 9])]));
        const blob = await messages.next();
        out.blob = [blob instanceof Blob, await t.bytes(blob)];
        socket.send("cmd:fragmented");
        out.fragmented = [await messages.next(), await t.bytes(await messages.next())];
        socket.binaryType = "arraybuffer";
        socket.send("cmd:large 3000000");
        const large = new Uint8Array(await messages.next());
        out.large = [large.length, large.every((byte, i) => byte === ((i * 31 + 7) & 0xff))];
        socket.send("cmd:lose-next-recv x");
        out.lost = await messages.next();
        socket.send("then");
        out.then = await messages.next();
        out.duplicates = messages.pending;
        socket.send("cmd:ping from chromium");
        socket.send("sync");
        await messages.next();
        const closed = t.event(socket, "close");
        socket.close(4000, "bye \u2713");
        const event = await closed;
        out.close = [event.code, event.wasClean, socket.readyState];

        const server = new WsxSocket(url, [], { transports: ["polling"] });
        await t.event(server, "open");
        server.send("cmd:close 4001 from the server");
        const serverClose = await t.event(server, "close");
        out.serverClose = [serverClose.code, serverClose.reason, serverClose.wasClean];

        const gone = new WsxSocket(url, [], { transports: ["polling"] });
        await t.event(gone, "open");
        gone.send("cmd:gone");
        const goneClose = await t.event(gone, "close");
        out.gone = [goneClose.code, goneClose.wasClean];

        const bad = new WsxSocket(url, [], { transports: ["polling"] });
        await t.event(bad, "open");
        const events = [];
        bad.onerror = () => events.push("error");
        bad.onmessage = () => events.push("message");
        bad.send("cmd:bad-utf8");
        const badClose = await t.event(bad, "close");
        out.badUtf8 = [...events, badClose.code];
        return out;
      }, { url, text: NON_ASCII });
      const expect = (name, value) => check(JSON.stringify(result[name]) === JSON.stringify(value),
                                            name + ": " + JSON.stringify(result[name]));
      expect("opened", ["polling", "superchat", 1]);
      check(mock.upgrades === 1, "chromium tried WebSocket first: " + mock.upgrades);
      expect("text", NON_ASCII);
      expect("binary", [0, 1, 128, 255]);
      expect("blob", [true, [7, 8, 9]]);
      expect("fragmented", ["h\u00e9llo w\u00f6rld", [1, 2, 3, 4, 5]]);
      expect("large", [3000000, true]);
      expect("lost", "after loss x");
      expect("then", "then");
      expect("duplicates", 0);
      check(mock.lostRecvs === 1, "a response was lost: " + mock.lostRecvs);
      expect("close", [4000, true, 3]);
      expect("serverClose", [4001, "from the server", true]);
      expect("gone", [1006, false]);
      expect("badUtf8", ["error", 1006]);
      const [first, , , bad] = mock.opened;
      check(first.pongs.includes("from chromium") && first.pongs.includes("between"), "pongs: " + first.pongs);
      check(first.closeReceived.code === 4000 && first.closeReceived.reason === "bye \u2713",
            "the client's close: " + JSON.stringify(first.closeReceived));
      for (let waited = 0; bad.closeReceived === null && waited < 10000; waited += 50) {
        await page.waitForTimeout(50);
      }
      check(bad.closeReceived && bad.closeReceived.code === 1007, "bad UTF-8 closed with 1007: " +
            JSON.stringify(bad.closeReceived));
      check(mock.errors.length === 0, "the mock saw broken frames: " + mock.errors.join("\n"));
      // Leaving the page closes a polling session with 1001, as a WebSocket's.
      await page.evaluate(async ({ url }) => {
        const socket = new WsxSocket(url, [], { transports: ["polling"] });
        await t.event(socket, "open");
      }, { url });
      const leaving = mock.session;
      await page.goto("about:blank");
      for (let waited = 0; leaving.closeReceived === null && waited < 10000; waited += 50) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      check(leaving.closeReceived && leaving.closeReceived.code === 1001,
            "the session of a page that went away: " + JSON.stringify(leaving.closeReceived));
    } finally {
      await mock.close();
    }
  },
});

// CTest cases, each one browser (launching chromium costs seconds on a loaded machine): the
// steps of a case run one after another on its page.
const groups = {
  serve: ["websocket", "fallback", "other_origin", "csrf", "reconnect"],  // reconnect last: it restarts the server
  polling_mock: ["polling_mock"],
};
const name = process.argv[3];
if (!groups[name]) {
  console.error("unknown case " + name + "; cases: " + Object.keys(groups).join(" "));
  process.exit(2);
}
// A refused WebSocket, a refused request: chromium logs them as console errors; the browser's
// WebSocket also logs a send after close, which the websocket step makes.
const expectedErrors = [/WebSocket connection to .* failed/, /Failed to load resource/, /net::ERR_/,
                        /WebSocket is already in CLOSING or CLOSED state/, /Access to fetch at .* blocked by CORS/];
runCase("wsxjs_" + name, async (context) => {
  for (const step of groups[name]) {
    await cases[step](context);
    console.log("step " + step + " passed");
  }
}, {
  allowedErrors: expectedErrors,
  noServe: name === "polling_mock",
});
