// The web console's (tools/wsx/console/console.js) plain-HTTP URL of a WebSocket URL, which its
// diagnosis of a failed connection fetches: the function taken from the script's source (a
// browser script, not a module) and run in Node.
// node console_url_test.js
"use strict";
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");

const source = fs.readFileSync(path.join(__dirname, "..", "..", "tools", "wsx", "console", "console.js"), "utf8");
const found = /^function plainHttpUrl\(parsed\) \{\n[\s\S]*?\n\}\n/m.exec(source);
assert.ok(found, "console.js defines function plainHttpUrl(parsed)");
const plainHttpUrl = new Function(found[0] + "return plainHttpUrl;")();

// [URL typed, page it is resolved against, URL fetched]
const cases = [
  ["ws://example.com:8080/echo?x=1", "http://127.0.0.1:9000/", "http://example.com:8080/echo?x=1"],
  ["wss://example.com/echo", "http://127.0.0.1:9000/", "https://example.com/echo"],
  // Relative: resolved against the page, whose scheme the server answers over. A console
  // served over https fetching http://its-host/nope was blocked as mixed content.
  ["nope", "https://127.0.0.1:9443/", "https://127.0.0.1:9443/nope"],
  ["/nope?a=b", "http://127.0.0.1:9000/", "http://127.0.0.1:9000/nope?a=b"],
  ["//other.example/x", "https://127.0.0.1:9443/", "https://other.example/x"],
];
for (const [typed, page, expected] of cases) {
  const parsed = new URL(typed, page);
  assert.equal(plainHttpUrl(parsed), expected, typed + " on " + page);
  assert.equal(parsed.href, new URL(typed, page).href, "the argument is left as it was");
}
console.log("passed " + cases.length + " cases");
