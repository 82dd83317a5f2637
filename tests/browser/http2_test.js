// Browser tests of `wsx serve --http2` (issue 14): node http2_test.js WSX_BINARY CASE. Headless
// chromium loads the console over https, ALPN h2 (the test certificate ignored with
// --ignore-certificate-errors), and the SERVER tells what ran where: its connection list
// (/admin/connections) names each WebSocket's transport and peer address:port, and its access
// log the peer of every request. Chromium opens a WebSocket as a stream of the page's HTTP/2
// connection (RFC 8441) by itself once the server announces SETTINGS_ENABLE_CONNECT_PROTOCOL:
// no switch is needed (checked with chromium 156).
//   websockets: the console's WebSocket and a second one the page opens: both "h2", one peer
//               (the connection that loaded the page), echoes on both
//   polling:    the same page with window.WebSocket made to fail: wsx.js falls back to long
//               polling, whose requests travel as streams of that same HTTP/2 connection
// WSX_SCREENSHOT_DIR=dir: the screenshots of the connections tab are left there.
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const { check, runCase, startServe, WAIT_MS } = require("./harness.js");

const NON_ASCII = "h\u00e9llo \u65e5\u672c \u2713";

// A self-signed certificate for 127.0.0.1 in a temporary directory; {dir, args}.
function makeCertificate() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wsx-h2-cert-"));
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                           "-addext", "subjectAltName=IP:127.0.0.1",
                           "-keyout", path.join(dir, "key.pem"), "-out", path.join(dir, "cert.pem")], { stdio: "ignore" });
  return { dir, args: ["--cert", path.join(dir, "cert.pem"), "--key", path.join(dir, "key.pem"), "--http2"] };
}

// The access log's peer of each request: '... 127.0.0.1:5000 "GET /" 200 ...' → [{peer, request}].
function accessLines(server) {
  return server.lines.map((line) => /^\S+ (\S+) "([^"]*)" (\d+)/.exec(line)).filter(Boolean)
    .map((m) => ({ peer: m[1], request: m[2], status: Number(m[3]) }));
}

async function openConsoleOverH2(page, base) {
  await page.goto(base + "/");
  await page.waitForSelector("#state.closed");
  const protocol = await page.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  check(protocol === "h2", "the console was loaded over HTTP/2 (ALPN h2): " + protocol);
}

async function typeAndWaitEcho(page, text) {
  await page.fill("#message", text);
  await page.press("#message", "Enter");
  await page.waitForFunction((t) => [...document.querySelectorAll("#messages tbody tr.received")]
    .some((tr) => tr.cells[4].textContent === t), text);
}

// The server's list, read by the page (a loopback client may see it).
function serverConnections(page) {
  return page.evaluate(async () => (await (await fetch("/admin/connections", { cache: "no-store" })).json()).connections);
}

async function waitConnections(page, predicate, description) {
  let last = [];
  for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline; await page.waitForTimeout(100)) {
    last = await serverConnections(page);
    if (predicate(last)) return last;
  }
  throw new Error("timed out waiting for " + description + "; the server lists " + JSON.stringify(last));
}

async function screenshotConnections(page, name) {
  await page.click("#tab-connections");
  await page.waitForSelector("#connections tbody tr");
  const dir = process.env.WSX_SCREENSHOT_DIR || fs.mkdtempSync(path.join(os.tmpdir(), "wsx-console-h2-"));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name + ".png");
  await page.screenshot({ path: file });
  check(fs.statSync(file).size > 10000, "screenshot " + file + " is empty");
  console.log("screenshot: " + file);
  return page.$$eval("#connections tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
}

const cases = {
  async websockets({ page, server }) {
    const base = "https://127.0.0.1:" + server.port;
    await openConsoleOverH2(page, base);
    await page.click("#connect");
    await page.waitForSelector("#state.open");
    check(await page.textContent("#transport") === "websocket", "the console's WebSocket is open");
    await typeAndWaitEcho(page, NON_ASCII);
    // A second WebSocket to the same origin, opened by the page itself.
    const echoed = await page.evaluate((url) => new Promise((resolve, reject) => {
      const socket = new WebSocket(url);
      window.second = socket;
      socket.onopen = () => socket.send("second");
      socket.onmessage = (event) => resolve(event.data);
      socket.onerror = () => reject(new Error("the second WebSocket failed"));
    }), base.replace("https:", "wss:") + "/echo");
    check(echoed === "second", "the second WebSocket echoes: " + echoed);

    const both = await waitConnections(page, (list) => list.length === 2 &&
      list.every((c) => c.received.messages === 1 && c.sent.messages === 1), "two WebSockets with one echo each");
    check(both.every((c) => c.path === "/echo" && c.transport === "h2"),
          "both WebSockets are streams of an HTTP/2 connection: " + JSON.stringify(both));
    check(both[0].peer === both[1].peer && /^127\.0\.0\.1:\d+$/.test(both[0].peer),
          "both come from one peer address:port, so one connection: " + JSON.stringify(both));
    // ... the connection that loaded the page: the access log has the page, both extended
    // CONNECTs (200) and the list requests, all from that peer.
    const log = accessLines(server);
    const page0 = log.find((l) => l.request === "GET /");
    const connects = log.filter((l) => l.request === "CONNECT /echo");
    check(page0 && page0.peer === both[0].peer, "the page came over the same connection: " + JSON.stringify(log));
    check(connects.length === 2 && connects.every((l) => l.status === 200 && l.peer === both[0].peer),
          "two extended CONNECTs answered 200 on it: " + JSON.stringify(log));
    check(!log.some((l) => l.request.startsWith("GET /echo")), "no HTTP/1.1 upgrade: " + JSON.stringify(log));

    const cells = await screenshotConnections(page, "console-h2-connections");
    check(cells.length === 2 && cells.every((row) => row[0] === both[0].peer && row[1] === "h2"),
          "the console shows both rows with the same peer and h2: " + JSON.stringify(cells));
  },

  async polling({ page, server }) {
    const base = "https://127.0.0.1:" + server.port;
    await page.addInitScript(() => {
      window.WebSocket = class BlockedWebSocket {
        constructor() {
          setTimeout(() => {
            if (this.onerror) this.onerror(new Event("error"));
            if (this.onclose) this.onclose(new CloseEvent("close", { code: 1006 }));
          }, 10);
        }
        close() {}
      };
    });
    await openConsoleOverH2(page, base);
    await page.click("#connect");
    await page.waitForSelector("#state.open");
    check(await page.textContent("#transport") === "polling", "wsx.js fell back to polling: " +
          await page.textContent("#transport"));
    await typeAndWaitEcho(page, NON_ASCII);
    await typeAndWaitEcho(page, "two");

    const list = await waitConnections(page, (l) => l.length === 1 && l[0].received.messages === 2 &&
                                       l[0].sent.messages === 2, "a polling session with two echoes");
    check(list[0].transport === "long-polling" && list[0].path === "/echo", "the server's row: " + JSON.stringify(list));
    // Every polling request (open, sends, recvs) was a stream of the page's connection.
    const log = accessLines(server);
    const page0 = log.find((l) => l.request === "GET /");
    const polls = log.filter((l) => l.request.includes("wsx-poll="));
    check(polls.some((l) => l.request === "POST /echo?wsx-poll=open" && l.status === 200) &&
          polls.some((l) => l.request.startsWith("POST /echo?wsx-poll=send")) &&
          polls.some((l) => l.request.startsWith("GET /echo?wsx-poll=recv")),
          "open, send and recv were answered: " + JSON.stringify(polls));
    check(page0 && polls.every((l) => l.peer === page0.peer), "all on the page's connection: " + JSON.stringify(log));
    const protocols = await page.evaluate(() => [...new Set(performance.getEntriesByType("resource")
      .filter((e) => e.name.includes("wsx-poll=")).map((e) => e.nextHopProtocol))]);
    check(protocols.length === 1 && protocols[0] === "h2", "the browser sent them over h2: " + protocols);
    // A polling session's peer is the connection its open came on.
    check(list[0].peer === page0.peer, "its peer: " + JSON.stringify(list));

    const cells = await screenshotConnections(page, "console-h2-polling");
    check(cells.length === 1 && cells[0][1] === "long-polling", "the console's row: " + JSON.stringify(cells));
    await page.click("#tab-messages");
    await page.click("#close");
    await page.waitForSelector("#state.closed");
    await waitConnections(page, (l) => l.length === 0, "the polling session closed");
  },
};

const name = process.argv[3];
if (!cases[name]) {
  console.error("unknown case " + name + "; cases: " + Object.keys(cases).join(" "));
  process.exit(2);
}
const certificate = makeCertificate();
process.on("exit", () => fs.rmSync(certificate.dir, { recursive: true, force: true }));
runCase(name, cases[name], {
  serveArgs: certificate.args,
  chromiumArgs: ["--ignore-certificate-errors"],
  // Once a polling session is over, the client's last recv learns it from a 410, which chromium
  // logs (docs/long-polling-protocol.md).
  allowedErrors: name === "polling" ? [/Failed to load resource: the server responded with a status of 410/] : [],
});
