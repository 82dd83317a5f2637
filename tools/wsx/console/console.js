// The wsx web console. Everything a message contains is shown through textContent (never
// innerHTML), so a message cannot inject markup; the page's CSP allows no inline script either.
"use strict";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: false });
// Older rows are dropped: the table stays quick to lay out (?rows=N keeps more or fewer).
const maxRows = Math.max(100, Number(params.get("rows")) || 2000);
const previewChars = 300;
const closeCodes = {
  1000: "Normal Closure", 1001: "Going Away", 1002: "Protocol Error", 1003: "Unsupported Data",
  1005: "No Status Received", 1006: "Abnormal Closure", 1007: "Invalid Payload Data",
  1008: "Policy Violation", 1009: "Message Too Big", 1010: "Mandatory Extension",
  1011: "Internal Error", 1012: "Service Restart", 1013: "Try Again Later", 1015: "TLS Handshake",
};
const httpReasons = {
  400: "the server found the handshake malformed (a header it needs, or a version it does not speak)",
  401: "the server wants credentials (a token or a cookie this page does not send)",
  403: "the server refused this page: its Origin is not allowed (wsx serve: --allow-origin), or a token is missing or wrong",
  404: "nothing is served at this path",
  426: "this is a WebSocket endpoint, but it saw no upgrade",
  429: "too many handshakes from this client: try again later",
  500: "the server failed while deciding (its upgrade code threw)",
  503: "the server is full or shutting down (too many connections)",
};

// ---- state ----------------------------------------------------------------------------------
let ws = null;
let opened = false;          // this socket reached OPEN (a close before it is a failure)
let connectStarted = 0;
// A page with a CSRF token (wsx serve --csrf) ignores the link parameters that act by
// themselves (auto=1 connects, send= sends): any site may link here, and the page would then
// send that site's text with this visitor's token. A person must click Connect.
const actsOnlyOnClick = document.querySelector('meta[name="wsx-csrf-token"]') !== null;
let pending = actsOnlyOnClick ? [] : params.getAll("send");
let echoesAwaited = 0;
const rows = [];             // {id, time, dir, kind, length, data (string|Uint8Array|null), text}
let nextId = 1;
let selected = null;
let shownCount = 0;          // rows the filter lets through (kept as rows come and go)
let show = "all";
let detailView = null;
const sentLines = loadHistory();   // lines sent, oldest first (not window.history)
let historyIndex = sentLines.length;
let draft = "";

// ---- helpers --------------------------------------------------------------------------------
function pad(n, width) { return String(n).padStart(width, "0"); }
function localTime(date) {
  return pad(date.getHours(), 2) + ":" + pad(date.getMinutes(), 2) + ":" + pad(date.getSeconds(), 2) +
         "." + pad(date.getMilliseconds(), 3);
}
function formatBytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}
function formatAge(ms) {
  const s = Math.floor(ms / 1000);
  if (s < 60) return s + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function hexPreview(bytes, limit) {
  let out = "";
  for (let i = 0; i < Math.min(bytes.length, limit); i++) out += bytes[i].toString(16).padStart(2, "0") + " ";
  return out.trim() + (bytes.length > limit ? " \u2026" : "");
}
function parseHex(text) {
  const clean = text.replace(/0x/gi, "").replace(/[\s:,]/g, "");
  if (clean.length % 2 !== 0 || /[^0-9a-f]/i.test(clean)) throw new Error("not hex: " + text);
  const bytes = new Uint8Array(clean.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(clean.substr(i * 2, 2), 16);
  return bytes;
}
function closeName(code) { return closeCodes[code] ? " (" + closeCodes[code] + ")" : ""; }
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- the message list -------------------------------------------------------------------------
// dir: "sent" | "received" | "event"; kind: text, binary, open, close, error.
function addRow(dir, kind, data, summary, bad) {
  const row = { id: nextId++, time: new Date(), dir, kind, data, bad: !!bad };
  if (typeof data === "string") {
    row.length = encoder.encode(data).length;
    row.text = data;
  } else if (data instanceof Uint8Array) {
    row.length = data.length;
    row.text = hexPreview(data, 96);
  } else {
    row.length = null;
    row.text = summary || "";
  }
  if (summary !== undefined && data !== null) row.text = summary;
  rows.push(row);
  row.node = renderRow(row);
  applyFilter(row);
  if (!row.node.hidden) shownCount++;
  if (rows.length > maxRows) {
    const dropped = rows.shift();
    if (!dropped.node.hidden) shownCount--;
    dropped.node.remove();
    unrendered.delete(dropped);
  }
  unrendered.add(row);
  if (!renderScheduled) {
    renderScheduled = true;
    requestAnimationFrame(renderPending);
  }
  return row;
}
// Rows reach the table once per frame, together: reading the scroll position after every
// append made the browser lay the table out once per message (1000 echoes took a minute).
const unrendered = new Set();
let renderScheduled = false;
function renderPending() {
  renderScheduled = false;
  const list = $("list");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  const fragment = document.createDocumentFragment();
  for (const row of unrendered) fragment.appendChild(row.node);
  unrendered.clear();
  $("messages").tBodies[0].appendChild(fragment);
  updateCount();
  if (atBottom) list.scrollTop = list.scrollHeight;
}
function renderRow(row) {
  const tr = el("tr", row.dir + (row.bad ? " bad" : ""));
  tr.dataset.id = row.id;
  tr.dataset.kind = row.kind;
  tr.appendChild(el("td", "time", localTime(row.time)));
  const arrow = row.dir === "sent" ? "\u2191" : row.dir === "received" ? "\u2193" : "\u2022";
  const dir = el("td", "dir", arrow);
  dir.title = row.dir;
  tr.appendChild(dir);
  const kind = el("td", "kind");
  kind.appendChild(el("span", "", row.kind));
  tr.appendChild(kind);
  tr.appendChild(el("td", "num len", row.length === null ? "" : String(row.length)));
  const preview = row.text.length > previewChars ? row.text.slice(0, previewChars) + "\u2026" : row.text;
  const data = el("td", "data", preview.replace(/[\r\n\t]+/g, " "));
  data.title = row.text.length > 2000 ? row.text.slice(0, 2000) + "\u2026" : row.text;
  tr.appendChild(data);
  tr.addEventListener("click", () => { select(row); $("list").focus({ preventScroll: true }); });
  return tr;
}
// A /regex/ that does not compile is searched for as text, and the field says so: without it,
// "0 of 8" could not be told from a pattern that matches nothing.
let filterProblem = "";
function showFilterProblem(problem, detail = "") {
  filterProblem = problem;  // short: it goes beside the count, on the toolbar's one line
  const field = $("filter");
  field.classList.toggle("invalid", problem !== "");
  field.setAttribute("aria-invalid", problem !== "" ? "true" : "false");
  field.title = detail;
}
function filterMatcher() {
  const text = $("filter").value;
  const regex = /^\/(.+)\/([imsu]*)$/.exec(text);
  showFilterProblem("");
  if (regex) {
    try {
      const re = new RegExp(regex[1], regex[2]);
      return (row) => re.test(row.text) || re.test(row.kind);
    } catch (e) {
      showFilterProblem("not a valid regular expression: searched as text", e.message);
    }
  }
  const needle = text.toLowerCase();
  return (row) => needle === "" || row.text.toLowerCase().includes(needle) || row.kind === needle;
}
let matcher = filterMatcher();
function applyFilter(row) {
  const shown = (show === "all" || row.dir === show || (show === "events" && row.dir === "event")) && matcher(row);
  row.node.hidden = !shown;
}
function updateCount() {
  const shown = shownCount;
  $("count").textContent = (shown === rows.length ? rows.length + " messages" : shown + " of " + rows.length) +
                           (filterProblem ? " · " + filterProblem : "");
  $("empty").hidden = rows.length > 0;
}
function refilter() {
  matcher = filterMatcher();
  shownCount = 0;
  for (const row of rows) {
    applyFilter(row);
    if (!row.node.hidden) shownCount++;
  }
  updateCount();
}

// ---- the detail pane --------------------------------------------------------------------------
function isJson(text) {
  const t = text.trim();
  if (!(t.startsWith("{") || t.startsWith("["))) return false;
  try { JSON.parse(t); return true; } catch (e) { return false; }
}
function select(row) {
  if (selected && selected.node) selected.node.classList.remove("selected");
  selected = row;
  row.node.classList.add("selected");
  $("detail").hidden = false;
  $("splitter").hidden = false;
  const views = availableViews(row);
  for (const button of document.querySelectorAll("[data-view]")) {
    button.disabled = !views.includes(button.dataset.view);
  }
  detailView = views.includes("json") ? "json" : row.data instanceof Uint8Array ? "hex" : "text";
  renderDetail();
}
function availableViews(row) {
  if (row.data instanceof Uint8Array) {
    const text = decoder.decode(row.data);
    return isJson(text) ? ["hex", "text", "json"] : ["hex", "text"];
  }
  if (typeof row.data === "string") return isJson(row.data) ? ["text", "json", "hex"] : ["text", "hex"];
  return ["text"];
}
function renderDetail() {
  const row = selected;
  const body = $("detail-body");
  body.textContent = "";
  body.className = "mono " + detailView;
  for (const button of document.querySelectorAll("[data-view]")) {
    button.classList.toggle("on", button.dataset.view === detailView);
  }
  const lengthText = row.length === null ? "" : " \u00b7 " + row.length + " bytes";
  $("detail-meta").textContent = row.dir + " " + row.kind + lengthText + " \u00b7 " + localTime(row.time);
  const bytes = row.data instanceof Uint8Array ? row.data : typeof row.data === "string" ? encoder.encode(row.data) : null;
  const text = typeof row.data === "string" ? row.data : bytes ? decoder.decode(bytes) : row.text;
  if (detailView === "hex" && bytes) body.appendChild(hexDump(bytes));
  else if (detailView === "json") body.appendChild(prettyJson(JSON.parse(text.trim())));
  else body.textContent = text;
}
function hexDump(bytes) {
  const fragment = document.createDocumentFragment();
  const limit = Math.min(bytes.length, 1 << 20);   // a megabyte of dump is plenty to read
  for (let offset = 0; offset < limit; offset += 16) {
    const line = bytes.subarray(offset, Math.min(offset + 16, limit));
    let hexText = "";
    let ascii = "";
    for (let i = 0; i < 16; i++) {
      if (i < line.length) {
        hexText += line[i].toString(16).padStart(2, "0") + (i === 7 ? "  " : " ");
        ascii += line[i] >= 0x20 && line[i] < 0x7f ? String.fromCharCode(line[i]) : ".";
      } else {
        hexText += i === 7 ? "    " : "   ";
      }
    }
    fragment.appendChild(el("span", "hex-offset", offset.toString(16).padStart(8, "0") + "  "));
    fragment.appendChild(document.createTextNode(hexText + " "));
    fragment.appendChild(el("span", "hex-ascii", ascii + "\n"));
  }
  if (bytes.length > limit) fragment.appendChild(el("span", "hex-offset", "\u2026 " + (bytes.length - limit) + " more bytes\n"));
  return fragment;
}
// Pretty-printed JSON with colours, built from nodes (no markup from the message).
function prettyJson(value) {
  const fragment = document.createDocumentFragment();
  const put = (text, cls) => fragment.appendChild(cls ? el("span", cls, text) : document.createTextNode(text));
  const walk = (v, indent) => {
    const inner = indent + "  ";
    if (Array.isArray(v)) {
      if (v.length === 0) { put("[]"); return; }
      put("[\n");
      v.forEach((item, i) => { put(inner); walk(item, inner); put(i + 1 < v.length ? ",\n" : "\n"); });
      put(indent + "]");
    } else if (v !== null && typeof v === "object") {
      const keys = Object.keys(v);
      if (keys.length === 0) { put("{}"); return; }
      put("{\n");
      keys.forEach((key, i) => {
        put(inner); put(JSON.stringify(key), "json-key"); put(": ");
        walk(v[key], inner); put(i + 1 < keys.length ? ",\n" : "\n");
      });
      put(indent + "}");
    } else if (typeof v === "string") put(JSON.stringify(v), "json-string");
    else if (typeof v === "number") put(String(v), "json-number");
    else put(String(v), "json-literal");
  };
  walk(value, "");
  return fragment;
}

// ---- connection -------------------------------------------------------------------------------
function setState(text) {
  const state = $("state");
  state.textContent = text;
  state.className = "state " + text;
  const open = ws !== null && ws.readyState === WsxSocket.OPEN;
  $("send").disabled = !open;
  $("close").disabled = ws === null || ws.readyState >= WsxSocket.CLOSING;
  // Which transport wsx.js chose (WebSocket, or long-polling where WebSocket is blocked).
  $("transport").hidden = !open;
  $("transport").textContent = open ? ws.transport : "";
  $("connect").textContent = ws === null ? "Connect" : "Reconnect";
}
function showFailure(title, text) {
  $("failure-title").textContent = title;
  $("failure-text").textContent = text;
  $("failure").hidden = false;
}
function connect() {
  if (ws !== null) { ws.onclose = null; ws.close(1000, "reconnect"); ws = null; }
  $("failure").hidden = true;
  const url = $("url").value.trim();
  const protocols = $("protocols").value.split(",").map((p) => p.trim()).filter((p) => p);
  addRow("event", "connect", null, "connecting to " + url + (protocols.length ? "  subprotocols: " + protocols.join(", ") : ""));
  opened = false;
  connectStarted = Date.now();
  // wsx serve --csrf: this page carries a token for this server; it goes to this server only,
  // in the query (browsers fail a handshake whose answer names no subprotocol they offered).
  let target = url;
  let sameServer = false;
  const csrf = document.querySelector('meta[name="wsx-csrf-token"]');
  try {
    // Relative to this page, as wsx.js (and the browser's WebSocket) take it: "/echo" is here.
    const parsed = new URL(url, location.href);
    sameServer = parsed.host === location.host;
    if (csrf && sameServer) {
      parsed.searchParams.set("csrf", csrf.content);
      target = parsed.href;
    }
  } catch (e) { /* not a URL: the WsxSocket constructor says so below */ }
  try {
    // wsx.js: WebSocket, else long-polling. Only to this server: another origin's polling
    // answers are not readable here (no CORS), so there WebSocket alone is tried.
    ws = new WsxSocket(target, protocols, { transports: sameServer ? ["websocket", "polling"] : ["websocket"] });
  } catch (e) {
    addRow("event", "error", null, e.message, true);
    showFailure("Cannot connect:", e.name === "SecurityError"
      ? "this page is https://, so the browser refuses ws:// (use wss://). " + e.message
      : e.message);
    ws = null; setState("failed");
    return;
  }
  ws.binaryType = "arraybuffer";
  setState("connecting");
  const socket = ws;
  socket.onopen = () => {
    opened = true;
    addRow("event", "open", null, "open  transport: " + socket.transport +
           (socket.protocol ? "  subprotocol: " + socket.protocol : "") +
           (socket.extensions ? "  extensions: " + socket.extensions : ""));
    setState("open");
    refreshConnections();  // the tab's count follows this page's own connections
    for (const text of pending) send(text, "text");
    pending = [];
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") addRow("received", "text", event.data);
    else addRow("received", "binary", new Uint8Array(event.data));
    if (echoesAwaited > 0 && --echoesAwaited === 0 && params.get("close") === "1") socket.close(1000, "done");
  };
  socket.onerror = () => {
    if (opened) addRow("event", "error", null, "error: the browser gives no detail, see the close code", true);
  };
  socket.onclose = (event) => {
    const summary = event.code + closeName(event.code) + (event.reason ? "  \u201c" + event.reason + "\u201d" : "") +
                    (event.wasClean ? "" : "  (not clean)");
    addRow(opened ? "received" : "event", "close", null, summary, !event.wasClean);
    ws = null;
    // The server may still be finishing its side of the close: a moment later, not at once.
    setTimeout(refreshConnections, 300);
    if (!opened) {
      setState("failed");
      diagnose(url, connectStarted, protocols);
    } else {
      setState("closed");
    }
  };
}
function send(text, kind) {
  if (ws === null || ws.readyState !== WsxSocket.OPEN) return false;
  try {
    if (kind === "hex") {
      const bytes = parseHex(text);
      ws.send(bytes);
      addRow("sent", "binary", bytes);
    } else {
      ws.send(text);
      addRow("sent", "text", text);
    }
    echoesAwaited++;
    return true;
  } catch (e) {
    addRow("event", "error", null, e.message, true);
    return false;
  }
}

// ---- why a connection failed ------------------------------------------------------------------
// The browser's WebSocket API reports every failure as close 1006 and hides the HTTP status.
// For this server the status is known: it lists recent refusals at /admin/connections (to
// pages on this machine). For other servers, a fetch() of the same URL over http(s) tells
// apart "nothing answered / TLS failed" (the fetch fails) from "an HTTP server refused".
// Where the server of a WebSocket URL answers a plain GET. The URL may be one resolved against
// this page, so already http: or https:; https: must stay https: (over http: a console loaded
// over https would fetch another origin, which the browser blocks as mixed content).
function plainHttpUrl(parsed) {
  const url = new URL(parsed.href);
  url.protocol = url.protocol === "wss:" || url.protocol === "https:" ? "https:" : "http:";
  return url.href;
}
// `protocols`: the subprotocols offered; a server that speaks none of them answers without one,
// and the browser fails that handshake with no more detail than for any other refusal.
async function diagnose(url, since, protocols = []) {
  let target;
  let httpUrl;
  try {
    // As the connection took it (relative to this page): "nope" was tried as /nope, so its
    // refusal is what to show, not "not a URL".
    const parsed = new URL(url, location.href);
    // The server lists refused targets with their CSRF token redacted (it is a credential).
    target = (parsed.pathname + parsed.search).replace(/([?&]csrf=)[^&]+/g, "$1[redacted]");
    httpUrl = plainHttpUrl(parsed);
  } catch (e) {
    showFailure("Cannot connect:", "not a URL: " + url);
    return;
  }
  const secure = httpUrl.startsWith("https:");
  const sameServer = new URL(httpUrl).host === location.host && new URL(httpUrl).protocol === location.protocol;
  if (sameServer) {
    const refusal = await recentRefusal(target, since);
    if (refusal) {
      reportStatus(refusal.status, "this server");
      return;
    }
  }
  try {
    const response = await fetch(httpUrl, { mode: sameServer ? "same-origin" : "cors", cache: "no-store", credentials: "omit" });
    if (response.status === 426 || response.ok) {
      // wsx connect --trace shows the request and response headers (wsx connect has no -v).
      showFailure("Handshake refused:", "the server answers HTTP at this URL but refused the WebSocket handshake (a plain GET gets " +
                  response.status + ")" +
                  (protocols.length
                    ? "; it may speak none of the subprotocols offered (" + protocols.join(", ") + "): try without them"
                    : "") +
                  "; its reason is in its log, or run wsx connect --trace " + url);
    } else {
      reportStatus(response.status, "a plain GET of this URL");
    }
    return;
  } catch (e) {
    // Either unreachable or CORS hid the answer: an opaque (no-cors) fetch tells which.
  }
  try {
    await fetch(httpUrl, { mode: "no-cors", cache: "no-store", credentials: "omit" });
    showFailure("Handshake refused:", "an HTTP server answers at this address but refused the WebSocket handshake; " +
                "the browser hides its status from pages of another origin (wsx connect --trace " + url + " shows it)");
  } catch (e) {
    showFailure("Cannot reach the server:", secure
      ? "nothing answered over TLS: connection refused, a name that does not resolve, or a certificate this browser " +
        "does not trust (self-signed, expired, or for another name). Open " + httpUrl + " in a tab to see the certificate " +
        "error and accept it, or run wsx connect " + url + " for the exact reason."
      : "nothing answered: the connection was refused or the name does not resolve (is the server running, on this port?)");
  }
}
async function recentRefusal(target, since) {
  try {
    const response = await fetch("/admin/connections", { cache: "no-store", headers: adminHeaders() });
    if (!response.ok) return null;
    const data = await response.json();
    const matches = data.refused.filter((r) => r.target === target && r.time_ms >= since - 2000);
    return matches.length ? matches[matches.length - 1] : null;
  } catch (e) {
    return null;
  }
}
function reportStatus(status, who) {
  const reason = httpReasons[status] || (status >= 500 ? "the server failed" : "the server refused the request");
  showFailure("HTTP " + status + ":", reason + " (" + who + " answered " + status + ")");
  addRow("event", "error", null, "HTTP " + status + ": " + reason, true);
}

// ---- the server's connections ---------------------------------------------------------------
let refreshTimer = null;
function adminHeaders() {
  const token = $("admin-token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}
// A list that cannot be had is shown empty, without a count: the last one would say a server
// that stopped still holds its connections.
function forgetConnections(why) {
  $("connections").tBodies[0].textContent = "";
  $("tab-connections").textContent = "Server connections";
  $("connections-note").textContent = why;
}
async function refreshConnections() {
  const note = $("connections-note");
  let data;
  try {
    const response = await fetch("/admin/connections", { cache: "no-store", headers: adminHeaders() });
    if (response.status === 401 || response.status === 403) {
      $("admin-token").hidden = false;
      forgetConnections(response.status === 401
        ? "This list needs the server's admin token (wsx serve --admin-token): enter it above."
        : "Only clients on the server's machine may see this list (or start wsx serve with --admin-token).");
      return;
    }
    if (!response.ok) throw new Error("HTTP " + response.status);
    data = await response.json();
  } catch (e) {
    forgetConnections("Cannot list the connections: " + e.message +
                      (e instanceof TypeError ? " (is the server still running?)" : ""));
    return;
  }
  const tbody = $("connections").tBodies[0];
  tbody.textContent = "";
  for (const c of data.connections) {
    const tr = el("tr");
    tr.dataset.path = c.path;
    for (const value of [c.peer, c.transport, c.path, c.protocol || "\u2014", c.extensions || "\u2014", formatAge(c.age_ms),
                         c.received.messages, formatBytes(c.received.bytes), c.sent.messages, formatBytes(c.sent.bytes)]) {
      const cell = el("td", "", String(value));
      cell.title = String(value);
      tr.appendChild(cell);
    }
    tr.cells[0].title = "connected at " + localTime(new Date(c.opened_ms));
    tbody.appendChild(tr);
  }
  $("tab-connections").textContent = "Server connections (" + data.connections.length + ")";
  note.textContent = data.connections.length === 0 ? "No open connections." :
    data.connections.length + (data.connections.length === 1 ? " connection" : " connections") +
    " \u00b7 updated " + localTime(new Date());
}
function showTab(button) {
  for (const tab of document.querySelectorAll(".tab")) {
    const active = tab === button;
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-selected", String(active));
    $(tab.dataset.panel).classList.toggle("active", active);
  }
  clearInterval(refreshTimer);
  refreshTimer = null;
  if (button.id === "tab-connections") {
    refreshConnections();
    refreshTimer = setInterval(refreshConnections, 2000);
  }
}

// ---- history ----------------------------------------------------------------------------------
function loadHistory() {
  try { return JSON.parse(localStorage.getItem("wsx.history") || "[]").slice(-100); } catch (e) { return []; }
}
function remember(text) {
  if (text === "" || sentLines[sentLines.length - 1] === text) { historyIndex = sentLines.length; return; }
  sentLines.push(text);
  if (sentLines.length > 100) sentLines.shift();
  historyIndex = sentLines.length;
  try { localStorage.setItem("wsx.history", JSON.stringify(sentLines)); } catch (e) { /* private mode */ }
}
function recall(step) {
  const box = $("message");
  if (historyIndex === sentLines.length) draft = box.value;
  const next = historyIndex + step;
  if (next < 0 || next > sentLines.length) return;
  historyIndex = next;
  box.value = next === sentLines.length ? draft : sentLines[next];
  box.setSelectionRange(box.value.length, box.value.length);
}

// ---- wiring -----------------------------------------------------------------------------------
function sendTyped() {
  const box = $("message");
  if (send(box.value, $("kind").value)) {
    remember(box.value);
    box.value = "";
    draft = "";
  }
  box.focus();
}
function init() {
  const scheme = location.protocol === "https:" ? "wss://" : "ws://";
  $("url").value = params.get("url") || scheme + (location.host || "127.0.0.1:8080") + "/echo";
  $("protocols").value = params.get("protocols") || "";
  $("connect").onclick = connect;
  $("url").addEventListener("keydown", (event) => { if (event.key === "Enter") connect(); });
  $("close").onclick = () => {
    if (ws === null) return;
    const code = Number($("code").value);
    const reason = $("reason").value;
    try {
      ws.close(code, reason);
      addRow("sent", "close", null, code + closeName(code) + (reason ? "  \u201c" + reason + "\u201d" : ""));
      setState("closing");
    } catch (e) {
      addRow("event", "error", null, e.message, true);
    }
  };
  $("send").onclick = sendTyped;
  $("message").addEventListener("keydown", (event) => {
    const box = event.target;
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); sendTyped(); return; }
    // Up/Down walk the history when the caret is on the first/last line, as a shell does.
    const before = box.value.slice(0, box.selectionStart);
    const after = box.value.slice(box.selectionEnd);
    if (event.key === "ArrowUp" && !before.includes("\n")) { event.preventDefault(); recall(-1); }
    if (event.key === "ArrowDown" && !after.includes("\n")) { event.preventDefault(); recall(1); }
  });
  // Up/Down in the list move the selection over the rows shown, as in devtools.
  $("list").addEventListener("keydown", (event) => {
    if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
    const shown = rows.filter((r) => !r.node.hidden);
    if (shown.length === 0) return;
    event.preventDefault();
    const at = selected ? shown.indexOf(selected) : -1;
    const next = at < 0 ? (event.key === "ArrowUp" ? shown.length - 1 : 0)
                        : Math.min(shown.length - 1, Math.max(0, at + (event.key === "ArrowUp" ? -1 : 1)));
    select(shown[next]);
    shown[next].node.scrollIntoView({ block: "nearest" });
  });
  $("filter").addEventListener("input", refilter);
  for (const button of document.querySelectorAll("[data-show]")) {
    button.onclick = () => {
      show = button.dataset.show;
      for (const b of document.querySelectorAll("[data-show]")) b.classList.toggle("on", b === button);
      refilter();
    };
  }
  for (const button of document.querySelectorAll("[data-view]")) {
    button.onclick = () => { if (selected) { detailView = button.dataset.view; renderDetail(); } };
  }
  $("detail-copy").onclick = async () => {
    try {
      await navigator.clipboard.writeText($("detail-body").textContent);
      $("detail-copy").textContent = "Copied";
    } catch (e) {
      $("detail-copy").textContent = "Cannot copy";
    }
    setTimeout(() => { $("detail-copy").textContent = "Copy"; }, 1500);
  };
  $("detail-close").onclick = () => {
    $("detail").hidden = true;
    $("splitter").hidden = true;
    if (selected) selected.node.classList.remove("selected");
    selected = null;
  };
  $("clear").onclick = () => {
    rows.length = 0;
    unrendered.clear();
    shownCount = 0;
    $("messages").tBodies[0].textContent = "";
    $("detail-close").click();
    updateCount();
  };
  // Dragging the splitter sets the detail pane's width, as devtools' panes do.
  $("splitter").addEventListener("pointerdown", (event) => {
    const splitter = event.target;
    splitter.setPointerCapture(event.pointerId);
    splitter.classList.add("dragging");
    const move = (e) => {
      const right = splitter.parentElement.getBoundingClientRect().right;
      $("detail").style.flexBasis = Math.max(200, right - e.clientX) + "px";
    };
    splitter.addEventListener("pointermove", move);
    splitter.addEventListener("pointerup", () => {
      splitter.classList.remove("dragging");
      splitter.removeEventListener("pointermove", move);
    }, { once: true });
  });
  for (const tab of document.querySelectorAll(".tab")) tab.onclick = () => showTab(tab);
  $("refresh").onclick = refreshConnections;
  $("admin-token").addEventListener("change", refreshConnections);
  setState("closed");
  updateCount();
  if (params.get("auto") === "1" && !actsOnlyOnClick) connect();
}
init();
