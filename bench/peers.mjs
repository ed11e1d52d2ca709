// The load generator's side of each system. Subscribers and idle connections are plain `ws`
// sockets speaking each system's wire protocol just enough to authenticate, subscribe and count
// deliveries: the same cheap receiver for all of them, so with 1,000 or 10,000 of them on one core
// the load generator measures the servers and not several client libraries. Publishers and RPC
// callers use each system's own client (a raw `ws` socket for ws and corked ws, which speak the
// same protocol).

import { io as ioClient } from 'socket.io-client';
import { createClient } from 'switchboard/client';
import WebSocket from 'ws';

const CONNECT_TIMEOUT_MS = 20_000;

function opened(ws) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('connect timed out'));
    }, CONNECT_TIMEOUT_MS);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.once('unexpected-response', (_request, response) => {
      clearTimeout(timer);
      reject(new Error(`HTTP ${response.statusCode}`));
    });
  });
}

/**
 * A raw peer: control replies (acks) are answered in order through `pending`; everything else is
 * a delivery, handed to `peer.onData(buffer)` (a counter by default).
 */
class Peer {
  delivered = 0;
  onData = () => {
    this.delivered++;
  };
  pending = [];
  constructor(ws) {
    this.ws = ws;
  }
  /** Sends `message` and resolves with the next control reply. */
  ask(message) {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.ws.send(message);
    });
  }
  close() {
    this.ws.terminate();
  }
}

const protocols = {
  ws: {
    async open(server, token) {
      const ws = new WebSocket(server.url, {
        headers: { authorization: `Bearer ${token}` },
        perMessageDeflate: false,
      });
      const peer = new Peer(ws);
      ws.on('message', (data) => {
        if (data.length === 1 && data[0] === 107 /* k */ && peer.pending.length)
          peer.pending.shift().resolve(data);
        else peer.onData(data);
      });
      await opened(ws);
      return peer;
    },
    subscribe: (peer, channel) => peer.ask(`s${channel}`),
    publish: (peer, channel, payload) => peer.ask(`p${channel}\0${payload}`),
  },

  switchboard: {
    async open(server, token) {
      const ws = new WebSocket(server.url, { perMessageDeflate: false });
      const peer = new Peer(ws);
      peer.nextId = 1;
      ws.on('message', (data) => {
        // {"type":"reply"…, {"type":"error"…, {"type":"ping"}, {"type":"message"…
        const t = data[9];
        if (t === 109 /* m */) peer.onData(data);
        else if (t === 112 /* p */) ws.send('{"type":"pong"}');
        else if (peer.pending.length) {
          const { resolve, reject } = peer.pending.shift();
          if (t === 114 /* r */) resolve(data);
          else reject(new Error(data.toString()));
        }
      });
      await opened(ws);
      await peer.ask(JSON.stringify({ type: 'connect', id: peer.nextId++, version: 1, token }));
      return peer;
    },
    subscribe: (peer, channel) =>
      peer.ask(JSON.stringify({ type: 'subscribe', id: peer.nextId++, channel })),
  },

  socketio: {
    async open(server, token) {
      const ws = new WebSocket(server.url, { perMessageDeflate: false });
      const peer = new Peer(ws);
      peer.nextId = 0;
      let handshake;
      const connected = new Promise((resolve, reject) => (handshake = { resolve, reject }));
      ws.on('message', (data) => {
        const a = data[0];
        const b = data[1];
        if (a === 52 /* 4 */ && b === 50 /* 2 */) peer.onData(data);
        else if (a === 52 && b === 51 /* 3: ack */) peer.pending.shift()?.resolve(data);
        else if (a === 50 /* 2: ping */) ws.send('3');
        else if (a === 48 /* 0: engine.io open */) ws.send(`40${JSON.stringify({ token })}`);
        else if (a === 52 && b === 48 /* 40: connected */) handshake.resolve();
        else if (a === 52 && b === 52 /* 44: refused */) handshake.reject(new Error(String(data)));
      });
      await opened(ws);
      await connected;
      return peer;
    },
    subscribe: (peer, channel) => peer.ask(`42${peer.nextId++}${JSON.stringify(['sub', channel])}`),
    publish: (peer, channel, payload) =>
      peer.ask(`42${peer.nextId++}${JSON.stringify(['pub', channel, payload])}`),
  },
};

protocols.wscork = protocols.ws;

/** An authenticated raw peer of `server.system`. */
export const openPeer = (server, token) => protocols[server.system].open(server, token);
export const subscribePeer = (server, peer, channel) =>
  protocols[server.system].subscribe(peer, channel);

/**
 * Opens `count` authenticated peers, `concurrency` handshakes at a time; peer i authenticates
 * with `tokens[i]` (or `tokens` itself, when it is one token).
 */
export async function openPeers(server, tokens, count, concurrency = 100) {
  const peers = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      peers[i] = await openPeer(server, typeof tokens === 'string' ? tokens : tokens[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return peers;
}

/** Runs `task(i)` for i < count, `concurrency` at a time. */
export async function forEachConcurrent(count, concurrency, task) {
  let next = 0;
  const worker = async () => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * A publisher: `publish(channel, payload)` resolves once the server accepted it. Switchboard's
 * goes through its client (outbox, idempotency key); ws and Socket.IO are acked by the server.
 */
export async function openPublisher(server, token) {
  if (server.system === 'switchboard') {
    const client = createClient({ url: server.url, token, WebSocket, heartbeat: false });
    await client.connect();
    return {
      publish: (channel, payload) => client.publish(channel, 'm', payload),
      close: () => client.close(),
    };
  }
  const peer = await openPeer(server, token);
  const { publish } = protocols[server.system];
  return {
    publish: (channel, payload) => publish(peer, channel, payload),
    close: () => peer.close(),
  };
}

/**
 * An RPC caller: `call(payload, done)` calls done() when the reply is back.
 * Switchboard: client.request to server.rpc; Socket.IO: emit with ack; ws: a raw echo.
 */
export async function openCaller(server, token) {
  if (server.system === 'switchboard') {
    const client = createClient({ url: server.url, token, WebSocket, heartbeat: false });
    await client.connect();
    return {
      call: (payload, done) => client.request('echo', payload).then(done),
      close: () => client.close(),
    };
  }
  if (server.system === 'socketio') {
    const socket = ioClient(server.origin, {
      transports: ['websocket'],
      auth: { token },
      reconnection: false,
      timeout: CONNECT_TIMEOUT_MS,
    });
    await new Promise((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('connect_error', reject);
    });
    return {
      call: (payload, done) => socket.emit('echo', payload, done),
      close: () => socket.close(),
    };
  }
  const ws = new WebSocket(server.url, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  await opened(ws);
  const waiting = [];
  ws.on('message', () => waiting.shift()());
  return {
    call: (payload, done) => {
      waiting.push(done);
      ws.send(`e${payload}`);
    },
    close: () => ws.terminate(),
  };
}
