import { createClient } from 'switchboard/client';
import { createServer } from 'switchboard/server';

const server = createServer({
  auth: { authenticate: (token) => ({ userId: token }) },
  channels: { 'chat:*': {} },
});
server.rpc('time', () => new Date().toISOString());
const { url } = await server.listen();

const client = createClient({ url, token: 'alice' });
client
  .subscribe('chat:lobby')
  .on('message', (data, meta) => console.log(meta.user, 'says', data.text));
await client.connect();
await client.publish('chat:lobby', 'message', { text: 'hello' });
console.log('server time:', await client.request('time'));
client.close();
await server.close();
