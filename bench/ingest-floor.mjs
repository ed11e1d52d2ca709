// The floor under bench/ingest.mjs's one-POST-per-event rows: a bare node:http server that reads
// each body, parses it and answers a fixed publish result, nothing else. The same Python load
// against it shows what the load generator and the machine allow at most, so a gateway figure
// can be read as a share of that. Speaks lib.mjs's child protocol (ready, stats, exit).
import { createServer } from 'node:http';

const ANSWER = '{"offset":1,"epoch":"floor","duplicate":false}';
const http = createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => {
    JSON.parse(Buffer.concat(chunks).toString('utf8'));
    response.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(ANSWER);
  });
});
await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));

process.send({ type: 'ready', port: http.address().port, system: 'floor' });
process.on('message', (message) => {
  if (message.type === 'stats') {
    const cpu = process.cpuUsage();
    const wall = performance.now();
    process.send({ type: 'stats', memory: process.memoryUsage(), cpu, wall, connections: 0 });
  } else if (message.type === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
