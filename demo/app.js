import { createClient } from 'switchboard/client';

const $ = (selector) => document.querySelector(selector);
const room = new URLSearchParams(location.search).get('room') ?? 'lobby';
const params = new URLSearchParams(location.search);
const name =
  params.get('name') ??
  sessionStorage.getItem('name') ??
  `guest-${Math.random().toString(36).slice(2, 6)}`;
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
const showMessage = (data, meta) => line(`<b>${esc(meta.user)}</b> ${esc(data.text)}`);
chat.on('message', showMessage);
let loaded = false;
chat.on('subscribed', async ({ recovered }) => {
  if (recovered === false) line('Some messages could not be recovered.', 'notice');
  if (!loaded) {
    // What was said before this page subscribed: kept history, shown above the live messages.
    loaded = true;
    const { publications } = await chat.history({ limit: 50 });
    const live = [...$('#log').children];
    for (const p of publications) if (p.event === 'message') showMessage(p.data, p);
    for (const el of live) $('#log').append(el);
  }
  renderPresence(await chat.presence());
});

const members = new Map();
function renderPresence(list) {
  if (list) {
    members.clear();
    for (const m of list) members.set(m.connection, m);
  }
  const names = [...new Set([...members.values()].map((m) => m.info?.name ?? m.user))].sort();
  $('#people').innerHTML = names.map((n) => `<li>${esc(n)}</li>`).join('');
}
chat.on('$join', (m) => {
  members.set(m.connection, m);
  renderPresence();
});
chat.on('$leave', (m) => {
  members.delete(m.connection);
  renderPresence();
});

let typingTimer;
chat.on('typing', (_data, meta) => {
  if (meta.user === name) return;
  $('#typing').textContent = `${meta.user} is typing…`;
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => ($('#typing').textContent = ''), 1500);
});

const replies = new Map();
const reply = (id) =>
  replies.get(id) ??
  replies
    .set(id, line('<b>agent</b> <span class="status"></span> <span class="text"></span>', 'agent'))
    .get(id);
const agent = client.subscribe(`agent:${room}`);
agent.on('status', ({ id, state, progress }) => {
  reply(id).querySelector('.status').textContent =
    state === 'done' ? '' : `[${state}${progress ? ` ${progress}%` : ''}]`;
});
agent.on('reply', (chunk, { stream }) => {
  const el = reply(stream.id);
  if (stream.status === undefined) el.querySelector('.text').append(chunk);
  if (stream.status === 'end' || stream.status === 'error')
    el.querySelector('.status').textContent = '';
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
