// Shared by the Node interop peers: options, patterns and permessage-deflate settings. Uses
// Debian's node-ws (/usr/share/nodejs/ws).
'use strict';

const WebSocket = require('/usr/share/nodejs/ws');

// The frame-length boundaries of RFC 6455 §5.2 and a large message (--large-size, 16 MiB by
// default) far beyond the read buffers.
const BOUNDARY_SIZES = [0, 1, 125, 126, 65535, 65536];
const LARGE_SIZE = 16 * 1024 * 1024;
function sizes(largeSize = LARGE_SIZE) {
  return [...BOUNDARY_SIZES, largeSize];
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ';

// The patterns repeat (the periods below, as in peer_common.py): a period is built once and
// repeated, which makes the 16 MiB messages in milliseconds instead of seconds of JavaScript per
// test (a 16 Mi-element array of one-character strings joined cost ~4 s of CPU, twice per test).
const TEXT_PERIOD = 91 * ALPHABET.length;  // i / 91 advances by 63 and i * 7 by 0 mod 63
const BYTES_PERIOD = 65536;  // (i >> 8) & 0xFF repeats every 65536, (i * 13) & 0xFF every 256

function patternText(size, salt = 0) {
  const length = Math.min(size, TEXT_PERIOD);
  const chars = new Array(length);
  for (let i = 0; i < length; i++) chars[i] = ALPHABET[(i * 7 + Math.floor(i / 91) + salt) % ALPHABET.length];
  const period = chars.join('');
  return size <= length ? period : period.repeat(Math.ceil(size / length)).slice(0, size);
}

function patternBytes(size, salt = 0) {
  const bytes = Buffer.alloc(size);
  const length = Math.min(size, BYTES_PERIOD);
  for (let i = 0; i < length; i++) bytes[i] = ((i * 13) ^ (i >> 8) ^ salt) & 0xff;
  for (let done = length; done < size; done *= 2) bytes.copy(bytes, done, 0, Math.min(done, size - done));
  return bytes;
}

// --name value pairs; flags without a value are not used.
function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  return args;
}

// 'off' → false; 'on' or 'name[=value],...' → ws perMessageDeflate options. threshold 0 so that
// every message is compressed, small ones included.
function deflateOptions(spec) {
  if (!spec || spec === 'off') return false;
  const options = { threshold: 0 };
  if (spec === 'on') return options;
  const names = {
    server_no_context_takeover: 'serverNoContextTakeover',
    client_no_context_takeover: 'clientNoContextTakeover',
    server_max_window_bits: 'serverMaxWindowBits',
    client_max_window_bits: 'clientMaxWindowBits',
  };
  for (const item of spec.split(',')) {
    const [name, value] = item.split('=');
    if (!(name in names)) throw new Error('unknown deflate parameter ' + name);
    options[names[name]] = value === undefined ? true : Number(value);
  }
  return options;
}

module.exports = { WebSocket, sizes, patternText, patternBytes, parseArgs, deflateOptions };
