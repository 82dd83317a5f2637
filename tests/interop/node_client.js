#!/usr/bin/node
// Node ws client for the interop suite: the scenario list of py_client.py, exiting non-zero at
// the first mismatch. Usage: node_client.js --url URL [--ca FILE] [--deflate SPEC]
//   [--commands 1] [--subprotocol-offer a,b --subprotocol-expect NAME] [--expect-declined 1]
//   [--max-lifetime S] [--large-size BYTES]
'use strict';

const fs = require('fs');
const crypto = require('crypto');
const common = require('./node_common');

const args = common.parseArgs(process.argv.slice(2));
const ca = args.ca ? fs.readFileSync(args.ca) : undefined;

class Mismatch extends Error {}
function check(condition, what) {
  if (!condition) throw new Mismatch(what);
}

// A connection whose next message, pong or close can be awaited in order.
function open(url, protocols) {
  return new Promise((resolve, reject) => {
    const ws = new common.WebSocket(url, protocols, {
      ca,
      perMessageDeflate: common.deflateOptions(args.deflate),
      maxPayload: 32 * 1024 * 1024,
      origin: 'http://interop.test',
      handshakeTimeout: 10000,
    });
    const inbox = [];
    const waiters = [];
    const push = (item) => (waiters.length ? waiters.shift()(item) : inbox.push(item));
    ws.on('message', (data, isBinary) => push({ type: 'message', data, isBinary }));
    ws.on('pong', (data) => push({ type: 'pong', data }));
    ws.on('close', (code, reason) => push({ type: 'close', code, reason: reason.toString() }));
    ws.on('unexpected-response', (req, res) => reject(Object.assign(new Error('refused'), { status: res.statusCode })));
    ws.on('error', (error) => reject(error));
    ws.next = () => new Promise((done) => (inbox.length ? done(inbox.shift()) : waiters.push(done)));
    ws.on('open', () => resolve(ws));
  });
}

async function expectMessage(ws, expected, isBinary, what) {
  const event = await ws.next();
  check(event.type === 'message', what + ': got ' + event.type);
  check(event.isBinary === isBinary, what + ': wrong kind');
  const data = isBinary ? event.data : event.data.toString();
  check(isBinary ? Buffer.compare(data, expected) === 0 : data === expected, what + ': differs');
}

async function echoSizes(ws) {
  for (const size of common.sizes(args['large-size'] ? Number(args['large-size']) : undefined)) {
    const text = common.patternText(size, size % 7);
    ws.send(text);
    await expectMessage(ws, text, false, 'text ' + size);
    const data = common.patternBytes(size, size % 5);
    ws.send(data);
    await expectMessage(ws, data, true, 'binary ' + size);
  }
  const unicode = 'h\u00e9llo w\u00f6rld \u20ac \u{1F600}';
  ws.send(unicode);
  await expectMessage(ws, unicode, false, 'UTF-8 text');
}

async function fragmented(ws) {
  // Split inside a multi-byte character: only the whole message must be valid UTF-8.
  const text = Buffer.from('fragment \u00e9\u20ac two');
  ws.send(text.subarray(0, 10), { binary: false, fin: false });
  ws.send(text.subarray(10, 10), { binary: false, fin: false });
  ws.send(text.subarray(10), { binary: false, fin: true });
  await expectMessage(ws, text.toString(), false, 'fragmented text');
  const binary = common.patternBytes(70010, 1);
  ws.send(binary.subarray(0, 70000), { binary: true, fin: false });
  ws.send(binary.subarray(70000), { binary: true, fin: true });
  await expectMessage(ws, binary, true, 'fragmented binary');
}

async function pings(ws) {
  for (const payload of [Buffer.from('interop-ping'), Buffer.alloc(0), Buffer.from(common.patternBytes(125))]) {
    ws.ping(payload);
    const event = await ws.next();
    check(event.type === 'pong' && Buffer.compare(event.data, payload) === 0, 'pong payload differs');
  }
}

async function ordering(ws) {
  for (let i = 0; i < 200; i++) ws.send('message ' + i);
  for (let i = 0; i < 200; i++) await expectMessage(ws, 'message ' + i, false, 'ordering ' + i);
}

async function repeatedCompressible(ws) {
  const text = common.patternText(20000, 3);
  for (let i = 0; i < 5; i++) {
    ws.send(text + i);
    await expectMessage(ws, text + i, false, 'repeated ' + i);
  }
}

async function serverCommands(ws) {
  ws.send('!ping from-server');
  await expectMessage(ws, '!pong from-server', false, 'server ping');
  for (const [kind, count, size] of [['text', 3, 10], ['binary', 4, 70000], ['text', 2, 0]]) {
    ws.send(`!fragments ${kind} ${count} ${size}`);
    const expected = kind === 'text' ? common.patternText(size) : common.patternBytes(size);
    await expectMessage(ws, expected, kind !== 'text', `server fragments ${kind} ${count} ${size}`);
  }
  ws.send('!header Origin');
  await expectMessage(ws, '!header http://interop.test', false, 'Origin header');
  ws.send('!extensions');
  const event = await ws.next();
  const reply = event.data.toString();
  console.log('negotiated:', reply);
  const expected = common.deflateOptions(args.deflate) !== false && !args['expect-declined'];
  check(expected === reply.includes('permessage-deflate'), 'deflate negotiation: ' + reply);
}

async function run() {
  const id = crypto.randomBytes(8).toString('hex');
  const url = args.url + (args.url.includes('?') ? '&' : '?') + 'id=' + id;
  let ws = await open(url);
  for (const scenario of [echoSizes, fragmented, pings, ordering, repeatedCompressible]) await scenario(ws);
  if (args.commands) await serverCommands(ws);
  ws.close(4001, 'bye \u00e9');
  let event = await ws.next();
  // RFC 6455 §5.5.1: the answer typically echoes the code; echoing the reason is optional.
  check(event.type === 'close' && event.code === 4001, `echoed close ${event.code} ${event.reason}`);

  if (args.commands) {
    ws = await open(args.url);
    ws.send('!lastclose ' + id);
    await expectMessage(ws, '!lastclose 4001 bye \u00e9', false, 'server saw our close');
    ws.send('!close 4002 server says bye');
    event = await ws.next();
    check(event.type === 'close' && event.code === 4002 && event.reason === 'server says bye',
      `server close ${event.code} ${event.reason}`);
  }
  if (args['subprotocol-offer']) {
    ws = await open(args.url, args['subprotocol-offer'].split(','));
    check(ws.protocol === (args['subprotocol-expect'] || ''), 'subprotocol ' + ws.protocol);
    ws.send('hello');
    await expectMessage(ws, 'hello', false, 'echo after subprotocol negotiation');
    ws.close();
    await ws.next();
  }
  if (args.commands) {
    const rejectUrl = args.url.split('/').slice(0, 3).join('/') + '/reject/403';
    try {
      await open(rejectUrl);
      throw new Mismatch('a refused handshake opened');
    } catch (error) {
      if (error instanceof Mismatch) throw error;
      check(error.status === 403, 'refused with ' + error.status + ' ' + error.message);
    }
  }
}

setTimeout(() => {
  console.error('MISMATCH: timed out');
  process.exit(1);
}, 1000 * Number(args['max-lifetime'] || 120)).unref();

run().then(
  () => {
    console.log('all scenarios passed');
    process.exit(0);
  },
  (error) => {
    console.error('MISMATCH:', error.message);
    process.exit(1);
  },
);
