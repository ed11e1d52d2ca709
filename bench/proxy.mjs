// A round-robin TCP proxy in front of several gateways (node:net), for the rolling restart of
// bench/recovery.mjs. Run as a child of the benchmark (lib.mjs startChild), on the load
// generator's core: it stands for the load balancer, not for the servers under measurement.
//
// Each accepted connection goes to the next backend in turn; a backend that refuses is skipped
// for the next one, so a client is refused only when every backend did. Bytes are relayed as they
// come (no parsing), half-closes and resets passed on. Messages from the parent:
//   { type: 'backends', ports: [...] }  the backends new connections go to (existing ones stay)
//   { type: 'stats' }                    answered with CPU, memory and connection counts
//   { type: 'exit' }
import { connect, createServer } from 'node:net';

const HOST = '127.0.0.1';
let backends = [];
let next = 0;
let open = 0;
let accepted = 0;
let refused = 0;
let retried = 0;

function route(client, attempt) {
  if (client.destroyed) return;
  if (backends.length === 0 || attempt >= backends.length) {
    refused++;
    client.destroy();
    return;
  }
  const port = backends[next++ % backends.length];
  const upstream = connect({ port, host: HOST, noDelay: true });
  let connected = false;
  upstream.once('connect', () => {
    connected = true;
    if (client.destroyed) return upstream.destroy();
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.on('error', () => {
    if (connected) return client.destroy();
    retried++;
    route(client, attempt + 1);
  });
  upstream.on('close', () => {
    if (connected) client.destroy();
  });
  client.on('close', () => upstream.destroy());
}

const server = createServer({ noDelay: true }, (client) => {
  accepted++;
  open++;
  client.on('error', () => {});
  client.once('close', () => open--);
  route(client, 0);
});
server.listen(0, HOST, () => {
  process.send({ type: 'ready', port: server.address().port, system: 'proxy' });
});

process.on('message', (message) => {
  if (message.type === 'backends') {
    backends = message.ports;
  } else if (message.type === 'stats') {
    process.send({
      type: 'stats',
      cpu: process.cpuUsage(),
      memory: process.memoryUsage(),
      connections: open,
      accepted,
      refused,
      retried,
    });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});
process.on('disconnect', () => process.exit(0));
