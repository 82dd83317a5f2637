// The long-polling fallback against WebSocket on the same machine: one `wsx serve` (/echo, which
// offers both), driven by wsx.js's WsxSocket in Node with options.transports forced to
// ["websocket"] (Debian's node-ws as the WebSocket) or to ["polling"] (Node's fetch). For each
// transport, in runs that alternate between the two (ws, polling, then polling, ws, ...) so
// that the machine's load hits both alike, on a fresh connection each run:
//   latency     1 message in flight, N round trips of a small text message: p50, p99 (µs)
//   text        K messages in flight, a fixed count of small text messages: messages/s
//   binary      64 KiB binary messages, K in flight, a fixed count: messages/s (and MiB/s)
// Each run also counts the CPU seconds of the server and of the client (this process) for all of
// it. Prints each run, then the medians over the runs and the polling/websocket ratio of each.
//
//   node bench/long_polling_bench.js build/tools/wsx/wsx
//   nice -n 10 node bench/long_polling_bench.js build/tools/wsx/wsx --runs 5 --in-flight 32
//   node bench/long_polling_bench.js build/tools/wsx/wsx --round-trips 200 --messages 2000 \
//       --binary-messages 100 --runs 1          # a quick look
//
// Node 20 (fetch), Debian's node-ws (scripts/install-deps.sh); no other dependency. Bounded:
// --time-limit for the whole run, and any single wait gives up after 20 s without progress.
// The server is killed at the end, on error and on SIGINT/SIGTERM. Server, clients and both
// transports share this machine: the numbers compare the two transports here, they are not
// capacities. Use a build without sanitizers for numbers worth quoting.
"use strict";
const { spawn, execFileSync } = require("node:child_process");
const path = require("node:path");
const readline = require("node:readline");
const fs = require("node:fs");

const WSX_JS = path.join(__dirname, "..", "js", "wsx.js");
const NODE_WS = "/usr/share/nodejs/ws";
const CLOCK_TICKS = 100;  // USER_HZ of /proc/PID/stat on Linux (getconf CLK_TCK)
const STALL_MS = 20000;  // no progress for this long: the run fails (generous: a loaded machine)
const PROXY_VARIABLES = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                         "ALL_PROXY", "no_proxy", "NO_PROXY"];

const USAGE = `usage: node bench/long_polling_bench.js WSX_BINARY [options]
  --runs R             runs of each transport, alternating (default 5)
  --round-trips N      latency: round trips with 1 message in flight (default 2000)
  --warmup N           round trips on each new connection before measuring (default 200)
  --in-flight K        throughput: messages in flight (default 32)
  --messages M         text throughput: messages per run (default 20000)
  --binary-messages B  binary throughput: messages per run (default 1000)
  --text-size BYTES    the small text message's size (default 32)
  --binary-size BYTES  the binary message's size (default 65536)
  --threads N          wsx serve --threads (default 1)
  --time-limit S       give up after S seconds in all (default 600)`;

function parseArguments(argv) {
  const options = {
    wsx: null, runs: 5, roundTrips: 2000, warmup: 200, inFlight: 32, messages: 20000,
    binaryMessages: 1000, textSize: 32, binarySize: 65536, threads: 1, timeLimit: 600,
  };
  const names = {
    "--runs": "runs", "--round-trips": "roundTrips", "--warmup": "warmup",
    "--in-flight": "inFlight", "--messages": "messages", "--binary-messages": "binaryMessages",
    "--text-size": "textSize", "--binary-size": "binarySize", "--threads": "threads",
    "--time-limit": "timeLimit",
  };
  for (let i = 0; i < argv.length; ++i) {
    const argument = argv[i];
    if (argument === "-h" || argument === "--help") {
      console.log(USAGE);
      process.exit(0);
    }
    if (argument in names) {
      const value = Number(argv[++i]);
      const least = argument === "--warmup" ? 0 : 1;
      if (!Number.isSafeInteger(value) || value < least) {
        throw new Error(argument + " needs an integer >= " + least);
      }
      options[names[argument]] = value;
    } else if (argument.startsWith("-") || options.wsx !== null) {
      throw new Error("unknown argument " + argument + "\n" + USAGE);
    } else {
      options.wsx = argument;
    }
  }
  if (options.wsx === null) throw new Error("the wsx binary is missing\n" + USAGE);
  // The text message carries its number in 8 characters; the binary one in 4 bytes.
  if (options.textSize < 8) throw new Error("--text-size must be at least 8");
  if (options.binarySize < 4) throw new Error("--binary-size must be at least 4");
  return options;
}

// ---------------------------------------------------------------------------------------------
// Failing the run from anywhere (server gone, time limit, signal): every wait races `aborted`.
let abortRun;
const aborted = new Promise((resolve, reject) => { abortRun = reject; });
aborted.catch(() => {});
function raced(promise) { return Promise.race([promise, aborted]); }

function withTimeout(promise, ms, what) {
  let timer;
  return raced(Promise.race([promise, new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error("timed out waiting for " + what)), ms);
  })])).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------------
// The server: `wsx serve --listen 127.0.0.1:0 -q`, its port read from its "listening on" line
// (as tests/support/wsx_e2e.py does). No access lines: polling makes two requests per message.
class Server {
  constructor(wsx, threads) {
    this.command = [wsx, "serve", "--listen", "127.0.0.1:0", "-q", "--threads", String(threads)];
    const env = Object.assign({}, process.env);
    for (const name of PROXY_VARIABLES) delete env[name];
    this.lastLines = [];
    this.stopping = false;
    this.process = spawn(this.command[0], this.command.slice(1),
                         { stdio: ["ignore", "ignore", "pipe"], env });
    this.exited = new Promise((resolve) => this.process.once("exit", (code, signal) => {
      this.exitCode = code;
      this.exitSignal = signal;
      resolve();
    }));
    this.process.once("exit", (code, signal) => {
      if (!this.stopping) {
        abortRun(new Error("wsx serve exited during the run (" + (signal || code) + "): " +
                           this.lastLines.join(" | ")));
      }
    });
    this.process.once("error", (error) => abortRun(new Error("cannot run " + wsx + ": " +
                                                             error.message)));
  }

  get alive() { return this.process.exitCode === null && this.process.signalCode === null; }

  // CPU seconds the server has used (user + system), from /proc/PID/stat in clock ticks.
  cpuSeconds() {
    const stat = fs.readFileSync("/proc/" + this.process.pid + "/stat", "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");  // from field 3 (state) on
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;  // utime, stime
  }

  // The port, once the server says it listens.
  start() {
    const lines = readline.createInterface({ input: this.process.stderr });
    const port = new Promise((resolve) => {
      lines.on("line", (line) => {
        this.lastLines.push(line);
        if (this.lastLines.length > 5) this.lastLines.shift();
        const match = /listening on (\S+?):(\d+) /.exec(line);
        if (match) resolve(Number(match[2]));
      });
    });
    return withTimeout(port, STALL_MS, "wsx serve's 'listening on' line");
  }

  // SIGTERM (it closes every connection with 1001 and exits), SIGKILL if it does not.
  async stop() {
    this.stopping = true;
    if (!this.alive) return;
    this.process.kill("SIGTERM");
    let timer;
    const grace = new Promise((resolve) => { timer = setTimeout(resolve, 5000); });
    await Promise.race([this.exited, grace]);
    clearTimeout(timer);
    if (this.alive) {
      this.process.kill("SIGKILL");
      await this.exited;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Measurements on one open WsxSocket. Each checks every echo (order and content), fails when a
// close arrives or nothing arrives for STALL_MS.
function measure(socket, what, body) {
  let lastProgress = Date.now();
  let watchdog;
  const done = new Promise((resolve, reject) => {
    watchdog = setInterval(() => {
      if (Date.now() - lastProgress > STALL_MS) {
        reject(new Error(what + ": no echo for " + STALL_MS + " ms"));
      }
    }, 1000);
    socket.onclose = (event) => {
      reject(new Error(what + ": closed with " + event.code + " " + event.reason));
    };
    socket.onerror = () => {};
    body(() => { lastProgress = Date.now(); }, resolve, reject);
  });
  return raced(done).finally(() => {
    clearInterval(watchdog);
    socket.onmessage = null;
    socket.onclose = null;
  });
}

function textMessage(size, number) {
  const digits = String(number).padStart(8, "0");
  return digits + "x".repeat(size - 8);
}
function binaryMessage(size, number) {
  const bytes = new Uint8Array(size);  // fresh: a transport may still hold the previous one
  new DataView(bytes.buffer).setUint32(0, number);
  return bytes;
}
function checkText(data, size, number) {
  if (typeof data !== "string" || data.length !== size ||
      !data.startsWith(textMessage(8, number))) {
    throw new Error("echo " + number + " is not the text sent");
  }
}
function checkBinary(data, size, number) {
  if (!(data instanceof ArrayBuffer) || data.byteLength !== size ||
      new DataView(data).getUint32(0) !== number) {
    throw new Error("echo " + number + " is not the binary message sent");
  }
}

// Round trips one at a time: the time of each, in µs.
function roundTrips(socket, count, size) {
  return measure(socket, "round trips", (progress, resolve, reject) => {
    const samples = new Float64Array(count);
    let done = 0;
    let sentAt = 0n;
    socket.onmessage = (event) => {
      const now = process.hrtime.bigint();
      try {
        checkText(event.data, size, done);
      } catch (error) {
        return reject(error);
      }
      progress();
      samples[done++] = Number(now - sentAt) / 1000;
      if (done === count) return resolve(samples);
      sentAt = process.hrtime.bigint();
      socket.send(textMessage(size, done));
    };
    sentAt = process.hrtime.bigint();
    socket.send(textMessage(size, 0));
  });
}

// `count` messages with `inFlight` outstanding: messages/s from the first send to the last echo.
function throughput(socket, count, inFlight, make, check) {
  return measure(socket, "throughput", (progress, resolve, reject) => {
    let sent = 0;
    let received = 0;
    const started = process.hrtime.bigint();
    socket.onmessage = (event) => {
      try {
        check(event.data, received);
      } catch (error) {
        return reject(error);
      }
      progress();
      if (++received === count) {
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        return resolve(count / seconds);
      }
      if (sent < count) socket.send(make(sent++));
    };
    while (sent < Math.min(inFlight, count)) socket.send(make(sent++));
  });
}

function percentile(sorted, fraction) {  // nearest rank
  return sorted[Math.max(0, Math.ceil(fraction * sorted.length) - 1)];
}
function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

// One run of one transport on a new connection: open, warm up, the three measurements, close.
// Also the CPU seconds the server and this process (the client) spent on it all: on a shared
// machine, what each transport costs matters as much as its rate.
async function run(WsxSocket, server, port, transport, options) {
  const serverCpuBefore = server.cpuSeconds();
  const clientCpuBefore = process.cpuUsage();
  const socket = new WsxSocket("ws://127.0.0.1:" + port + "/echo", [], { transports: [transport] });
  socket.binaryType = "arraybuffer";
  await withTimeout(new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onclose = (event) => reject(new Error(transport + " did not open (" + event.code + ")"));
  }), STALL_MS, "the " + transport + " connection to open");
  if (socket.transport !== transport) {
    throw new Error("asked for " + transport + ", got " + socket.transport);
  }
  if (options.warmup > 0) await roundTrips(socket, options.warmup, options.textSize);
  const samples = (await roundTrips(socket, options.roundTrips, options.textSize)).sort();
  const text = await throughput(socket, options.messages, options.inFlight,
                                (n) => textMessage(options.textSize, n),
                                (data, n) => checkText(data, options.textSize, n));
  const binary = await throughput(socket, options.binaryMessages, options.inFlight,
                                  (n) => binaryMessage(options.binarySize, n),
                                  (data, n) => checkBinary(data, options.binarySize, n));
  const closed = new Promise((resolve) => { socket.onclose = resolve; });
  socket.close(1000, "done");
  const event = await withTimeout(closed, STALL_MS, "the " + transport + " close");
  if (event.code !== 1000) throw new Error(transport + " closed with " + event.code);
  const clientCpu = process.cpuUsage(clientCpuBefore);
  return {
    p50: percentile(samples, 0.5), p99: percentile(samples, 0.99), text, binary,
    binaryMiB: binary * options.binarySize / (1 << 20),
    serverCpu: server.cpuSeconds() - serverCpuBefore,
    clientCpu: (clientCpu.user + clientCpu.system) / 1e6,
  };
}

const METRICS = [
  { key: "p50", label: "latency p50 (µs)", digits: 0 },
  { key: "p99", label: "latency p99 (µs)", digits: 0 },
  { key: "text", label: null, digits: 0 },  // labels set from the options
  { key: "binary", label: null, digits: 1 },
  { key: "binaryMiB", label: "  the same in MiB/s each way", digits: 1 },
  { key: "serverCpu", label: "server CPU per run (s)", digits: 2 },
  { key: "clientCpu", label: "client CPU per run (s)", digits: 2 },
];

function formatRun(transport, result) {
  return transport.padEnd(9) + "  p50 " + result.p50.toFixed(0).padStart(6) + " µs  p99 " +
    result.p99.toFixed(0).padStart(6) + " µs  text " + result.text.toFixed(0).padStart(7) +
    " msg/s  binary " + result.binary.toFixed(1).padStart(7) + " msg/s (" +
    result.binaryMiB.toFixed(1) + " MiB/s each way)  CPU server " + result.serverCpu.toFixed(2) +
    " s client " + result.clientCpu.toFixed(2) + " s";
}

async function main() {
  const options = parseArguments(process.argv.slice(2));
  METRICS[2].label = options.textSize + " B text, " + options.inFlight + " in flight (msg/s)";
  METRICS[3].label = Math.round(options.binarySize / 1024) + " KiB binary, " + options.inFlight +
    " in flight (msg/s)";

  try {
    globalThis.WebSocket = require(NODE_WS);
  } catch (error) {
    throw new Error("Debian's node-ws is missing (" + NODE_WS + "): bash scripts/install-deps.sh");
  }
  if (!globalThis.crypto) globalThis.crypto = require("node:crypto").webcrypto;  // Node 18
  const WsxSocket = require(WSX_JS);

  let version = "?";
  try {
    version = execFileSync(options.wsx, ["--version"], { encoding: "utf8", timeout: 20000 }).trim();
  } catch (error) {
    throw new Error("cannot run " + options.wsx + " --version: " + error.message);
  }
  const limit = setTimeout(() => abortRun(new Error("time limit of " + options.timeLimit +
                                                    " s reached")), options.timeLimit * 1000);
  limit.unref();

  const server = new Server(options.wsx, options.threads);
  const stopOnSignal = (signal) => {
    server.stop().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  process.once("exit", () => {
    if (server.alive) server.process.kill("SIGKILL");  // the last resort: never leave it running
  });

  try {
    const port = await server.start();
    const quoted = process.argv.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a));
    console.log("command: " + quoted.join(" "));
    console.log("server:  " + server.command.join(" ") + "  (" + version + ", port " + port + ")");
    console.log("client:  js/wsx.js in Node " + process.version +
                "; websocket = node-ws, polling = fetch");
    console.log("runs " + options.runs + ", round trips " + options.roundTrips + " (warm-up " +
                options.warmup + "), text " + options.messages + " × " + options.textSize +
                " B, binary " + options.binaryMessages + " × " + options.binarySize + " B, " +
                options.inFlight + " in flight\n");
    const results = { websocket: [], polling: [] };
    for (let i = 0; i < options.runs; ++i) {
      const order = i % 2 === 0 ? ["websocket", "polling"] : ["polling", "websocket"];
      for (const transport of order) {
        const result = await run(WsxSocket, server, port, transport, options);
        results[transport].push(result);
        console.log("run " + (i + 1) + "  " + formatRun(transport, result));
      }
    }
    console.log("\nmedians of " + options.runs + " runs:");
    console.log("metric".padEnd(36) + "websocket".padStart(12) + "polling".padStart(12) +
                "  polling/websocket");
    for (const metric of METRICS) {
      const ws = median(results.websocket.map((r) => r[metric.key]));
      const polling = median(results.polling.map((r) => r[metric.key]));
      console.log(metric.label.padEnd(36) + ws.toFixed(metric.digits).padStart(12) +
                  polling.toFixed(metric.digits).padStart(12) + "  " +
                  (polling / ws).toFixed(3).padStart(8));
    }
  } finally {
    await server.stop();
  }
  if (server.exitSignal === null && server.exitCode !== 0) {
    throw new Error("wsx serve exited with " + server.exitCode + ": " +
                    server.lastLines.join(" | "));
  }
}

main().then(() => process.exit(0), (error) => {
  console.error("long_polling_bench: " + error.message);
  process.exit(1);
});
