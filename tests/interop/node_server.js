#!/usr/bin/node
// Node ws echo server for the interop suite, with the same commands as py_server.py:
//   !close CODE REASON | !ping PAYLOAD | !fragments KIND N SIZE | !subprotocol | !extensions |
//   !header NAME | !lastclose ID;  /reject/NNN is refused with status NNN.
// Usage: node_server.js --port N [--tls-cert F --tls-key F] [--deflate SPEC]
//        [--subprotocols a,b] [--max-lifetime S]
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const common = require('./node_common');

const args = common.parseArgs(process.argv.slice(2));
const ours = (args.subprotocols || '').split(',').filter((p) => p);
const closed = new Map(); // id → [code, reason]

const httpServer = args['tls-cert']
  ? https.createServer({ cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) })
  : http.createServer();

const wss = new common.WebSocket.WebSocketServer({
  server: httpServer,
  maxPayload: 32 * 1024 * 1024,
  perMessageDeflate: common.deflateOptions(args.deflate),
  // Our preference order; without a match no subprotocol (ws would otherwise take the client's first).
  handleProtocols: (offered) => ours.find((p) => offered.has(p)) || false,
  verifyClient: (info, done) => {
    const match = /^\/reject\/(\d+)/.exec(info.req.url);
    if (match) done(false, Number(match[1]), 'Rejected', { 'X-Reject': 'interop' });
    else done(true);
  },
});

function waitClosed(id, reply, tries = 500) {
  if (closed.has(id)) return reply(closed.get(id));
  if (tries === 0) return reply([0, 'unknown id']);
  setTimeout(() => waitClosed(id, reply, tries - 1), 10);
}

function command(ws, req, text) {
  const space = text.indexOf(' ');
  const name = space < 0 ? text.slice(1) : text.slice(1, space);
  const rest = space < 0 ? '' : text.slice(space + 1);
  if (name === 'close') {
    const [code, ...reason] = rest.split(' ');
    ws.close(Number(code), reason.join(' '));
  } else if (name === 'ping') {
    ws.once('pong', (data) => ws.send('!pong ' + data.toString()));
    ws.ping(rest);
  } else if (name === 'fragments') {
    const [kind, countText, sizeText] = rest.split(' ');
    const count = Number(countText);
    const size = Number(sizeText);
    const data = kind === 'text' ? Buffer.from(common.patternText(size)) : common.patternBytes(size);
    const step = Math.max(1, Math.ceil(size / count));
    for (let i = 0; i < count; i++) {
      const piece = data.subarray(Math.min(i * step, size), Math.min((i + 1) * step, size));
      ws.send(piece, { binary: kind !== 'text', fin: i === count - 1 });
    }
  } else if (name === 'subprotocol') {
    ws.send('!subprotocol ' + ws.protocol);
  } else if (name === 'extensions') {
    ws.send('!extensions ' + ws.extensions);
  } else if (name === 'header') {
    ws.send('!header ' + (req.headers[rest.toLowerCase()] || ''));
  } else if (name === 'lastclose') {
    waitClosed(rest, ([code, reason]) => ws.send('!lastclose ' + code + ' ' + reason));
  } else {
    ws.send('!unknown ' + name);
  }
}

wss.on('connection', (ws, req) => {
  const id = new URL(req.url, 'http://x').searchParams.get('id');
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length > 0 && data[0] === 0x21 /* ! */) command(ws, req, data.toString());
    else ws.send(data, { binary: isBinary });
  });
  ws.on('close', (code, reason) => {
    if (id !== null) closed.set(id, [code, reason.toString()]);
  });
  ws.on('error', () => {});
});

httpServer.listen(Number(args.port), args.host || '127.0.0.1', () => console.log('ready'));
setTimeout(() => process.exit(0), 1000 * Number(args['max-lifetime'] || 120));
