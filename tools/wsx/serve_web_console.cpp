#include "serve_web_console.hpp"

namespace wsx::tool {
namespace {

// Messages are shown with textContent only (never innerHTML): a message cannot inject markup.
constexpr std::string_view page = R"WSXPAGE(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wsx console</title>
<style>
  :root { color-scheme: light dark; --muted: #888; --in: #2a7; --out: #37c; --bad: #d33; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; display: flex; flex-direction: column; height: 100vh; }
  header, footer { padding: 8px 12px; display: flex; gap: 6px; flex-wrap: wrap; align-items: center; }
  header { border-bottom: 1px solid #8884; }
  footer { border-top: 1px solid #8884; }
  input, button, select, textarea { font: inherit; }
  #url { flex: 1 1 24em; font-family: ui-monospace, monospace; }
  #message { flex: 1 1 24em; font-family: ui-monospace, monospace; min-height: 2.2em; }
  #state { font-weight: 600; min-width: 7em; }
  #log { flex: 1; overflow: auto; margin: 0; padding: 8px 12px; font: 13px/1.5 ui-monospace, monospace; }
  #log div { white-space: pre-wrap; word-break: break-all; }
  .in { color: var(--in); } .out { color: var(--out); } .bad { color: var(--bad); } .info { color: var(--muted); }
  small { color: var(--muted); }
</style>
</head>
<body>
<header>
  <strong>wsx</strong>
  <input id="url" aria-label="WebSocket URL" spellcheck="false">
  <input id="protocols" placeholder="subprotocols (a, b)" size="16" aria-label="subprotocols">
  <button id="connect">Connect</button>
  <input id="code" value="1000" size="5" aria-label="close code">
  <input id="reason" placeholder="reason" size="12" aria-label="close reason">
  <button id="close" disabled>Close</button>
  <span id="state">closed</span>
</header>
<pre id="log" aria-live="polite"></pre>
<footer>
  <textarea id="message" rows="1" placeholder="message (Enter sends, Shift+Enter: new line)"></textarea>
  <select id="kind" aria-label="message type"><option value="text">text</option><option value="hex">binary (hex)</option></select>
  <button id="send" disabled>Send</button>
  <button id="clear">Clear</button>
  <small>Browsers answer pings themselves and cannot send them; use <code>wsx connect</code> for pings and frame traces.</small>
</footer>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const scheme = location.protocol === "https:" ? "wss://" : "ws://";
$("url").value = params.get("url") || scheme + (location.host || "127.0.0.1:8080") + "/echo";
$("protocols").value = params.get("protocols") || "";
let ws = null;
let pending = params.getAll("send");
let echoesAwaited = 0;

function stamp() { return new Date().toISOString().slice(11, 23); }
function log(kind, text) {
  const line = document.createElement("div");
  line.className = kind;
  line.textContent = stamp() + "  " + text;
  const box = $("log");
  const atBottom = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
  box.appendChild(line);
  if (atBottom) box.scrollTop = box.scrollHeight;
}
function hex(bytes, limit) {
  let out = "";
  for (let i = 0; i < Math.min(bytes.length, limit); i++) out += bytes[i].toString(16).padStart(2, "0") + " ";
  return out.trim() + (bytes.length > limit ? " …" : "");
}
function parseHex(text) {
  const clean = text.replace(/[\s:,]|0x/gi, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error("not hex: " + text);
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.substr(i * 2, 2), 16);
  return bytes;
}
function setState(text) {
  $("state").textContent = text;
  const open = ws !== null && ws.readyState === WebSocket.OPEN;
  $("send").disabled = !open;
  $("close").disabled = ws === null || ws.readyState >= WebSocket.CLOSING;
  $("connect").textContent = ws === null ? "Connect" : "Reconnect";
}
function connect() {
  if (ws !== null) { ws.onclose = null; ws.close(1000, "reconnect"); ws = null; }
  const url = $("url").value.trim();
  const protocols = $("protocols").value.split(",").map((p) => p.trim()).filter((p) => p);
  log("info", "connecting to " + url + (protocols.length ? " (subprotocols: " + protocols.join(", ") + ")" : ""));
  try {
    ws = new WebSocket(url, protocols);
  } catch (e) {
    log("bad", "cannot connect: " + e.message);
    ws = null; setState("closed");
    return;
  }
  ws.binaryType = "arraybuffer";
  setState("connecting");
  ws.onopen = () => {
    log("info", "open" + (ws.protocol ? "  subprotocol=" + ws.protocol : "") +
        (ws.extensions ? "  extensions=" + ws.extensions : ""));
    setState("open");
    for (const text of pending) send(text, "text");
    pending = [];
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      log("in", "← text (" + new TextEncoder().encode(event.data).length + " B)  " + event.data);
    } else {
      const bytes = new Uint8Array(event.data);
      log("in", "← binary (" + bytes.length + " B)  " + hex(bytes, 64));
    }
    if (echoesAwaited > 0 && --echoesAwaited === 0 && params.get("close") === "1") ws.close(1000, "done");
  };
  ws.onerror = () => log("bad", "error (the browser gives no detail: see the close code)");
  ws.onclose = (event) => {
    log(event.wasClean ? "info" : "bad", "closed  code=" + event.code +
        (event.reason ? "  reason=" + event.reason : "") + "  clean=" + event.wasClean);
    ws = null; setState("closed");
  };
}
function send(text, kind) {
  if (ws === null || ws.readyState !== WebSocket.OPEN) return;
  try {
    if (kind === "hex") {
      const bytes = parseHex(text);
      ws.send(bytes);
      log("out", "→ binary (" + bytes.length + " B)  " + hex(bytes, 64));
    } else {
      ws.send(text);
      log("out", "→ text (" + new TextEncoder().encode(text).length + " B)  " + text);
    }
    echoesAwaited++;
  } catch (e) {
    log("bad", e.message);
  }
}
$("connect").onclick = connect;
$("close").onclick = () => {
  if (ws === null) return;
  const code = Number($("code").value);
  try { ws.close(code, $("reason").value); setState("closing"); } catch (e) { log("bad", e.message); }
};
$("send").onclick = () => { send($("message").value, $("kind").value); };
$("message").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); $("send").click(); }
});
$("clear").onclick = () => { $("log").textContent = ""; };
$("url").addEventListener("keydown", (event) => { if (event.key === "Enter") connect(); });
setState("closed");
if (params.get("auto") === "1") connect();
</script>
</body>
</html>
)WSXPAGE";

}  // namespace

std::string_view web_console_page() noexcept {
  return page;
}

}  // namespace wsx::tool
