import { createClient } from 'switchboard/client';

const $ = (selector) => document.querySelector(selector);
const room = new URLSearchParams(location.search).get('room') ?? 'lobby';
const name = sessionStorage.getItem('name') ?? prompt('Your name?') ?? '';
sessionStorage.setItem('name', name);

async function fetchToken() {
  const res = await fetch(`/login?name=${encodeURIComponent(name)}`, { method: 'POST' });
  return (await res.json()).token;
}

const client = createClient({
  url: `${location.origin.replace(/^http/, 'ws')}/ws`,
  token: fetchToken,
});
const badge = $('#state');
client.on('state', ({ state }) => {
  badge.textContent = state;
  badge.dataset.state = state;
});

function line(html, cls = '') {
  const div = document.createElement('div');
  div.className = `line ${cls}`;
  div.innerHTML = html;
  $('#log').append(div);
  $('#log').scrollTop = $('#log').scrollHeight;
  return div;
}
const esc = (s) =>
  String(s).replace(
    /[&<>"]/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c],
  );

const chat = client.subscribe(`room:${room}`);
chat.on('message', (data, meta) => line(`<b>${esc(meta.user)}</b> ${esc(data.text)}`));
chat.on('subscribed', ({ recovered }) => {
  if (recovered === false)
    line('Some messages could not be recovered; reload for the full history.', 'notice');
});
let typingTimer;
chat.on('typing', (_data, meta) => {
  if (meta.user === name) return;
  $('#typing').textContent = `${meta.user} is typing…`;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($('#typing').textContent = ''), 1500);
});

const replies = new Map();
const agent = client.subscribe(`agent:${room}`);
agent.on('status', ({ id, state, progress }) => {
  const el =
    replies.get(id) ??
    replies
      .set(
        id,
        line('<b>agent</b> <span class="status"></span> <span class="text"></span>', 'agent'),
      )
      .get(id);
  el.querySelector('.status').textContent =
    state === 'done' ? '' : `[${state}${progress ? ` ${progress}%` : ''}]`;
});
agent.on('chunk', ({ id, text }) => {
  replies.get(id)?.querySelector('.text').append(text);
});

$('#form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('#input').value.trim();
  if (!text) return;
  $('#input').value = '';
  await chat.publish('message', { text });
  if (text.startsWith('@agent')) await client.request('agent.ask', { room, prompt: text });
});
let lastTyping = 0;
$('#input').addEventListener('input', () => {
  if (Date.now() - lastTyping < 1000) return;
  lastTyping = Date.now();
  chat.publish('typing', {}).catch(() => {});
});

$('#room').textContent = room;
$('#me').textContent = name;
client.connect();
