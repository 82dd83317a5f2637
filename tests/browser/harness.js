// What every browser test needs: `wsx serve` on a free loopback port, headless Debian chromium
// driven by playwright-core (installed by scripts/install-deps.sh: `npm ci` here), a deadline
// for the whole test, and cleanup of both processes and the browser profile whatever happens.
"use strict";
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

const CHROMIUM = process.env.WSX_CHROMIUM || "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const WAIT_MS = 30000;  // any single wait: generous for a loaded 2-core machine

class Failure extends Error {}
function check(condition, message) {
  if (!condition) throw new Failure(message);
}

function loadPlaywright() {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Failure(CHROMIUM + " is missing: install Debian's chromium (bash scripts/install-deps.sh)");
  }
  try {
    return require(path.join(__dirname, "node_modules", "playwright-core"));
  } catch (error) {
    throw new Failure("playwright-core is not installed: run `npm ci` in tests/browser " +
                      "(bash scripts/install-deps.sh does): " + error.message);
  }
}

// Starts `wsx serve --listen 127.0.0.1:PORT ARGS` (port 0: a free one); resolves with
// {port, process, lines}.
function startServe(wsx, args = [], env = {}, port = 0) {
  return new Promise((resolve, reject) => {
    const child = spawn(wsx, ["serve", "--listen", "127.0.0.1:" + port, ...args],
                        { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
    const server = { process: child, lines: [], port: 0 };
    let buffered = "";
    const timer = setTimeout(() => reject(new Failure("no 'listening on' line: " + server.lines.join("\n"))), WAIT_MS);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        server.lines.push(line);
        const match = /listening on 127\.0\.0\.1:(\d+) /.exec(line);
        if (match && server.port === 0) {
          server.port = Number(match[1]);
          clearTimeout(timer);
          resolve(server);
        }
      }
    });
    child.on("error", (error) => { clearTimeout(timer); reject(error); });
    child.on("exit", (code) => {
      if (server.port === 0) { clearTimeout(timer); reject(new Failure("wsx serve exited " + code + ": " + server.lines.join("\n"))); }
    });
  });
}

// Runs `body({page, server, browser, errors, url})` with a fresh browser profile; exits the
// process with 0 (passed) or 1 (failed, with the reason). `options.serveArgs` go to wsx serve;
// `options.allowedErrors` are regexes of console errors the case expects (a refused WebSocket);
// `options.noServe`: the case brings its own server (server and base are null);
// `options.chromiumArgs`: more command-line switches for chromium.
async function runCase(name, body, options = {}) {
  const wsx = process.argv[2];
  let server = null;
  let context = null;
  let profile = null;
  const deadline = setTimeout(() => {
    console.error("FAILED " + name + ": no result within 110 s");
    if (server) server.process.kill("SIGKILL");
    process.exit(1);
  }, 110000);
  let failed = null;
  // Where the test's time goes, printed with its result: node and playwright, wsx serve,
  // chromium's start, the case itself, and closing the browser.
  const phases = [];
  let phaseStart = process.hrtime.bigint();
  const phase = (what) => {
    const now = process.hrtime.bigint();
    phases.push(what + " " + (Number(now - phaseStart) / 1e9).toFixed(2) + " s");
    phaseStart = now;
  };
  const nodeStart = process.uptime();
  try {
    check(wsx && fs.existsSync(wsx), "usage: node TEST.js WSX_BINARY");
    const { chromium } = loadPlaywright();
    phase("playwright");
    if (!options.noServe) server = await startServe(wsx, options.serveArgs || [], options.serveEnv || {});
    phase("serve");
    profile = fs.mkdtempSync(path.join(os.tmpdir(), "wsx-chromium-"));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, args: [...CHROMIUM_ARGS, ...(options.chromiumArgs || [])],
      timeout: WAIT_MS,
      viewport: { width: 1280, height: 720 }, colorScheme: options.colorScheme || "light",
    });
    context.setDefaultTimeout(WAIT_MS);
    const page = context.pages()[0] || await context.newPage();
    const errors = [];
    page.on("pageerror", (error) => errors.push("page error: " + error.message));
    page.on("console", (message) => {
      if (message.type() !== "error") return;
      const text = message.text();
      if (!(options.allowedErrors || []).some((re) => re.test(text))) errors.push("console error: " + text);
    });
    const base = server ? "http://127.0.0.1:" + server.port : null;
    phase("chromium");
    await body({ page, server, context, errors, base, wsx });
    phase("case");
    check(errors.length === 0, "the page reported errors (a CSP violation, a script error):\n" + errors.join("\n"));
  } catch (error) {
    failed = error;
  } finally {
    if (context) await context.close().catch(() => {});
    if (server) server.process.kill("SIGTERM");
    if (profile) fs.rmSync(profile, { recursive: true, force: true });
    clearTimeout(deadline);
    phase("close");
  }
  console.log("time: node " + nodeStart.toFixed(2) + " s, " + phases.join(", "));
  if (failed) {
    console.error("FAILED " + name + ": " + (failed instanceof Failure ? failed.message : failed.stack));
    process.exit(1);
  }
  console.log("passed " + name);
}

module.exports = { check, runCase, startServe, WAIT_MS };
