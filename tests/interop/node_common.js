// Shared by the Node interop peers: options, patterns and permessage-deflate settings. Uses
// Debian's node-ws (/usr/share/nodejs/ws).
'use strict';

const WebSocket = require('/usr/share/nodejs/ws');

// The frame-length boundaries of RFC 6455 §5.2 and a message far beyond the read buffers.
const SIZES = [0, 1, 125, 126, 65535, 65536, 16 * 1024 * 1024];

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ';

function patternText(size, salt = 0) {
  const chars = new Array(size);
  for (let i = 0; i < size; i++) chars[i] = ALPHABET[(i * 7 + Math.floor(i / 91) + salt) % ALPHABET.length];
  return chars.join('');
}

function patternBytes(size, salt = 0) {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = ((i * 13) ^ (i >> 8) ^ salt) & 0xff;
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

module.exports = { WebSocket, SIZES, patternText, patternBytes, parseArgs, deflateOptions };
