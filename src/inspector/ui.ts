/**
 * The panel: one page and one script, no build step and no dependencies, served by the gateway.
 * Captured content is untrusted: it is only ever put into the page as text, never as HTML.
 */
export const PANEL_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Switchboard inspector</title>
<style>
  :root { --bg: #f6f7f9; --panel: #fff; --line: #e3e6ea; --text: #1d2330; --muted: #6b7280; --accent: #2f5bd3; --in: #1f8a4c; --out: #7a4fd6; --bad: #b3261e; --warn: #c98a12; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 13px/1.4 system-ui, sans-serif; color: var(--text); background: var(--bg); height: 100vh; display: flex; flex-direction: column; }
  header { display: flex; flex-wrap: wrap; align-items: center; gap: 6px 12px; padding: 8px 14px; background: #1d2330; color: #fff; }
  header h1 { font-size: 14px; margin: 0; font-weight: 600; white-space: nowrap; }
  header .stats { color: #c7cbd4; font-variant-numeric: tabular-nums; min-width: 0; }
  header .spacer { flex: 1; }
  header .tools { display: flex; gap: 8px; align-items: center; }
  .pill { padding: 1px 9px; border-radius: 10px; background: var(--warn); color: #fff; font-weight: 600; font-size: 12px; }
  button, select, input, textarea { font: inherit; }
  button { border: 1px solid var(--line); background: var(--panel); border-radius: 4px; padding: 3px 10px; cursor: pointer; color: var(--text); }
  header button { background: #2b3345; color: #fff; border-color: #3a4358; }
  header button[aria-pressed="true"] { background: var(--warn); border-color: var(--warn); }
  button.primary { background: var(--accent); color: #fff; border-color: var(--accent); }
  main { flex: 1; display: grid; grid-template-columns: 280px minmax(0, 1fr) 380px; grid-template-rows: minmax(0, 1fr); min-height: 0; }
  section { display: flex; flex-direction: column; min-height: 0; min-width: 0; overflow: hidden; border-right: 1px solid var(--line); background: var(--panel); }
  section h2 { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin: 0; padding: 8px 10px; border-bottom: 1px solid var(--line); display: flex; gap: 6px; align-items: center; white-space: nowrap; }
  section h2 .muted { overflow: hidden; text-overflow: ellipsis; text-transform: none; letter-spacing: 0; }
  .scroll { overflow: auto; flex: 1; min-height: 0; }
  input, select, textarea { border: 1px solid var(--line); border-radius: 4px; padding: 3px 6px; background: #fff; min-width: 0; }
  #connections .row { padding: 6px 10px; border-bottom: 1px solid var(--line); cursor: pointer; display: grid; grid-template-columns: 10px minmax(0, 1fr) auto; gap: 2px 8px; }
  #connections .row:hover { background: #f1f4fb; }
  #connections .row.selected { background: #e6ecfb; }
  #connections .row > span { min-width: 0; overflow-wrap: anywhere; }
  .dot { width: 8px; height: 8px; border-radius: 50%; margin-top: 4px; background: #9aa1ad; }
  .dot.open { background: var(--in); } .dot.connecting, .dot.closing { background: var(--warn); } .dot.closed { background: var(--bad); }
  .id { font-family: ui-monospace, monospace; font-size: 12px; }
  .muted { color: var(--muted); }
  .counters { grid-column: 2 / 4; color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
  .filters { display: flex; flex-wrap: wrap; gap: 6px; padding: 8px 10px; border-bottom: 1px solid var(--line); }
  .filters input { width: 110px; flex: 1 1 90px; }
  .filters #f-text { flex: 2 1 140px; }
  .pager { border-top: 1px solid var(--line); border-bottom: 0; align-items: center; }
  table { width: 100%; border-collapse: collapse; table-layout: fixed; font-variant-numeric: tabular-nums; }
  th { position: sticky; top: 0; z-index: 1; background: #f9fafb; text-align: left; font-weight: 600; font-size: 11px; color: var(--muted); padding: 4px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  td { padding: 3px 8px; border-bottom: 1px solid #f0f1f3; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .c-time { width: 104px; } .c-dir { width: 30px; } .c-conn { width: 96px; } .c-type { width: 92px; } .c-where { width: 19%; }
  .c-id { width: 96px; } .c-size { width: 68px; } .c-content { width: auto; }
  th.c-dir, td.c-dir { padding: 3px 4px; text-align: center; text-overflow: clip; }
  table.one .c-conn { display: none; }
  tr.frame { cursor: pointer; } tr.frame:hover { background: #f6f8fd; } tr.frame.selected { background: #e6ecfb; }
  td.dir { font-weight: 700; } td.dir.in { color: var(--in); } td.dir.out { color: var(--out); }
  td.preview { font-family: ui-monospace, monospace; font-size: 12px; color: #3b4252; }
  tr.closed td { color: var(--bad); font-weight: 600; }
  .error td.type { color: var(--bad); }
  pre { margin: 0; padding: 10px; font: 12px/1.45 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
  .detail-actions { display: flex; gap: 6px; padding: 8px 10px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  .actions { border-top: 1px solid var(--line); padding: 8px 10px; display: grid; gap: 6px; }
  .actions textarea { width: 100%; height: 60px; font-family: ui-monospace, monospace; font-size: 12px; }
  .actions .line { display: flex; gap: 6px; }
  .actions .line input { flex: 1; min-width: 0; }
  .hint { border-top: 1px solid var(--line); padding: 8px 10px; margin: 0; color: var(--muted); }
  .hint code { font-size: 12px; background: #f1f3f6; padding: 0 3px; border-radius: 3px; }
  .notice { padding: 6px 10px; background: #fff7e0; color: #7a5a00; border-bottom: 1px solid #f0e2b0; }
  body.paused #timeline { background: #fffdf5; }
  .empty { padding: 20px; color: var(--muted); text-align: center; }
  dialog { border: 1px solid var(--line); border-radius: 8px; padding: 18px; }
  .hidden { display: none !important; }
  /* The timeline keeps its columns at every width: below 1600 px the frame moves under it, below
     1200 px the connections too, and below 760 px the least needed columns go. */
  @media (max-width: 1599px) {
    main { grid-template-columns: 260px minmax(0, 1fr); grid-template-rows: minmax(0, 1fr) minmax(170px, 36%); }
    #connections-section { grid-row: 1 / 3; }
    #frame-section { grid-column: 2; grid-row: 2; border-top: 1px solid var(--line); }
  }
  @media (max-width: 1199px) {
    main { grid-template-columns: minmax(220px, 34%) minmax(0, 1fr); grid-template-rows: minmax(0, 1fr) minmax(170px, 36%); }
    #timeline-section { grid-column: 1 / 3; grid-row: 1; }
    #connections-section { grid-column: 1; grid-row: 2; border-top: 1px solid var(--line); }
    #frame-section { grid-column: 2; grid-row: 2; }
  }
  @media (max-width: 759px) {
    main { grid-template-columns: minmax(0, 1fr); grid-template-rows: minmax(0, 1fr) minmax(0, 26%) minmax(0, 30%); }
    #timeline-section { grid-column: 1; grid-row: 1; }
    #connections-section { grid-column: 1; grid-row: 2; }
    #frame-section { grid-column: 1; grid-row: 3; border-top: 1px solid var(--line); }
    .c-where { width: 120px; } .c-id, .c-size { display: none; }
  }
</style>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%231d2330'/%3E%3Cpath d='M8 11h16M8 16h10M8 21h13' stroke='%23f2c14e' stroke-width='3' stroke-linecap='round'/%3E%3C/svg%3E">
</head>
<body>
<header>
  <h1>Switchboard inspector</h1>
  <span class="stats" id="stats">connecting…</span>
  <span id="paused" class="pill hidden" title="The timeline is frozen; frames are still captured">Paused</span>
  <span class="spacer"></span>
  <span class="tools">
    <button id="pause" type="button" aria-pressed="false">Pause</button>
    <button id="export" type="button">Export JSONL</button>
    <label><button id="import-button" type="button">Import</button><input id="import" type="file" accept=".jsonl,.ndjson,application/x-ndjson" class="hidden"></label>
  </span>
</header>
<div id="notice" class="notice hidden"></div>
<main>
  <section id="connections-section">
    <h2>Connections <span id="connection-count" class="muted"></span></h2>
    <div class="filters"><input id="search" placeholder="id or user" aria-label="Search connections"></div>
    <div class="scroll" id="connections"></div>
    <div class="filters pager"><button id="prev" type="button">‹ newer</button><span id="page" class="muted"></span><button id="next" type="button">older ›</button></div>
  </section>
  <section id="timeline-section">
    <h2>Timeline <span id="timeline-scope" class="muted"></span></h2>
    <div class="filters">
      <input id="f-user" placeholder="user" aria-label="User"><input id="f-channel" placeholder="channel" aria-label="Channel"><input id="f-event" placeholder="event" aria-label="Event">
      <select id="f-direction" aria-label="Direction"><option value="">both ways</option><option value="in">→ in</option><option value="out">← out</option></select>
      <input id="f-text" placeholder="search text" aria-label="Search text">
      <label title="WebSocket ping, pong and close frames"><input id="f-control" type="checkbox"> control frames</label>
      <button id="all" type="button">All connections</button>
    </div>
    <div id="paused-note" class="notice hidden">Paused: the timeline stays as it is. Frames are still captured; Resume shows them.</div>
    <div class="scroll" id="timeline"><table id="frames-table"><thead><tr>
      <th class="c-time">time</th><th class="c-dir" title="→ client to server, ← server to client"></th><th class="c-conn">connection</th><th class="c-type">type</th>
      <th class="c-where">channel · event</th><th class="c-id">id · latency</th><th class="c-size">size</th><th class="c-content">content</th>
    </tr></thead><tbody id="frames"></tbody></table></div>
  </section>
  <section id="frame-section">
    <h2>Frame</h2>
    <div class="detail-actions"><button id="copy" type="button">Copy</button><button id="download" type="button">Download</button><button id="replay" type="button" class="hidden">Replay as client</button><button id="replay-new" type="button" class="hidden">Replay on a new connection</button><label id="repeat-key-label" class="hidden" title="Replay a publish with its original idempotency key (the server then drops it as a duplicate)"><input id="repeat-key" type="checkbox"> same key</label><button id="export-test" type="button" class="hidden">Export as test</button></div>
    <div class="scroll"><pre id="detail" class="muted">Select a frame.</pre></div>
    <p class="hint hidden" id="actions-hint"></p>
    <div class="actions hidden" id="actions">
      <strong>Connection <span id="action-target" class="id"></span></strong>
      <textarea id="send-text" aria-label="Frame to send">{"type":"message","event":"notice","data":{"text":"hello from the inspector"}}</textarea>
      <div class="line"><button id="send" type="button">Send to client</button><input id="close-code" value="4010" size="5" aria-label="Close code"><button id="close" type="button">Close</button></div>
      <div class="line"><input id="pub-channel" placeholder="channel" aria-label="Channel to publish on"><input id="pub-event" placeholder="event" size="8" aria-label="Event to publish"><button id="publish" type="button">Publish</button></div>
      <input id="pub-data" placeholder='data (JSON)' value='{}' aria-label="Data to publish">
      <span id="action-result" class="muted"></span>
    </div>
  </section>
</main>
<dialog id="login"><form method="dialog"><p>This inspector needs its credential.</p><input id="credential" type="password" autocomplete="off" size="32"> <button class="primary">Open</button></form></dialog>
<script src="panel.js" type="module"></script>
</body>
</html>`;

export const PANEL_JS = `const $ = (id) => document.getElementById(id);
const base = location.pathname.replace(/\\/$/, '');
const state = { connections: new Map(), frames: [], selected: undefined, frame: undefined, paused: false, actions: false, needsCredential: false, offset: 0, total: 0, offline: false };
const MAX_FRAMES = 2000;
let ws;
let credential = sessionStorage.getItem('switchboard-inspector') ?? '';

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ''));
  return node;
}
const time = (t) => new Date(t).toISOString().slice(11, 23);
const size = (n) => (n < 1024 ? n + ' B' : (n / 1024).toFixed(1) + ' KB');
const duration = (c) => {
  const ms = (c.closedAt ?? Date.now()) - c.connectedAt;
  return ms < 60000 ? Math.round(ms / 1000) + 's' : Math.round(ms / 60000) + 'm';
};

function connect() {
  ws = new WebSocket(location.origin.replace(/^http/, 'ws') + base + '/ws');
  ws.onopen = () => ws.send(JSON.stringify({ type: 'auth', credential }));
  ws.onmessage = (event) => receive(JSON.parse(event.data));
  ws.onclose = (event) => {
    if (state.offline) return;
    if (event.code === 4001) return askCredential();
    $('stats').textContent = 'disconnected — retrying';
    setTimeout(connect, 1000);
  };
}

function askCredential() {
  $('login').showModal();
  $('login').addEventListener('close', () => {
    credential = $('credential').value;
    sessionStorage.setItem('switchboard-inspector', credential);
    connect();
  }, { once: true });
}

function send(message) {
  if (ws && ws.readyState === 1) ws.send(JSON.stringify(message));
}

function receive(message) {
  switch (message.type) {
    case 'hello':
      state.actions = message.actions;
      state.replayNew = message.replayNew;
      state.needsCredential = message.needsCredential;
      showActions();
      break;
    case 'snapshot':
      state.connections = new Map(message.connections.map((c) => [c.id, c]));
      state.total = message.total;
      state.offset = message.offset;
      state.frames = message.frames;
      showStats(message.stats, 0);
      renderConnections();
      renderFrames();
      break;
    case 'batch':
      // New connections join the first page when they match the search; the count is the server's.
      for (const c of message.connections) if (state.connections.has(c.id) || (state.offset === 0 && matchesSearch(c))) state.connections.set(c.id, c);
      if (typeof message.total === 'number') state.total = message.total;
      state.frames.push(...message.frames);
      if (state.frames.length > MAX_FRAMES) state.frames.splice(0, state.frames.length - MAX_FRAMES);
      showStats(message.stats, message.dropped);
      renderConnections();
      renderFrames();
      break;
    case 'forget':
      state.connections.delete(message.id);
      if (typeof message.total === 'number') state.total = message.total;
      renderConnections();
      break;
    case 'result':
      $('action-result').textContent = message.ok ? message.action + ': done' : 'failed' + (message.error ? ': ' + message.error : '');
      break;
  }
}

function showStats(stats, dropped) {
  $('stats').textContent = (stats.active ?? stats.connections) + ' active / ' + stats.connections + ' total · ' + stats.frames + ' frames · ' + size(stats.bytes) +
    (stats.untracked ? ' · ' + stats.untracked + ' not tracked' : '') +
    (stats.droppedFrames || stats.droppedConnections ? ' · dropped ' + stats.droppedFrames + ' frames, ' + stats.droppedConnections + ' connections' : '') +
    (dropped ? ' · ' + dropped + ' not shown (panel busy)' : '');
}

function matchesSearch(c) {
  const search = $('search').value.trim();
  return !search || c.id.includes(search) || (c.user ?? '').includes(search);
}

/** Actions (replay, send, publish, close) when the server allows them; otherwise why not. */
function showActions() {
  const on = state.actions && !state.offline;
  $('actions').classList.toggle('hidden', !(on && state.selected));
  $('replay').classList.toggle('hidden', !(on && state.current && state.current.direction === 'in'));
  $('replay-new').classList.toggle('hidden', !(on && state.replayNew && state.current && state.current.direction === 'in'));
  $('repeat-key-label').classList.toggle('hidden', !(on && state.current && state.current.direction === 'in' && state.current.type === 'publish'));
  $('export-test').classList.toggle('hidden', !(state.selected && !state.offline));
  const hint = $('actions-hint');
  hint.classList.toggle('hidden', on && Boolean(state.selected));
  if (state.offline) hint.textContent = 'An imported session: nothing to act on.';
  else if (on) hint.textContent = 'Select a connection to send it a frame, close it, or publish as the server.';
  else if (state.needsCredential) hint.textContent = 'Replay, send, publish and close are off on this server: attachInspector enables them with actions: true.';
  else hint.textContent = 'Replay, send, publish and close are off: start with INSPECTOR_CREDENTIAL to enable actions (attachInspector needs a credential and actions: true).';
}

function filter() {
  const f = {};
  for (const key of ['user', 'channel', 'event', 'direction', 'text']) {
    const value = $('f-' + key).value.trim();
    if (value) f[key] = value;
  }
  if (state.selected) f.connection = state.selected;
  if ($('f-control').checked) f.control = true;
  return f;
}
function applyFilter() {
  if (state.offline) return renderFrames();
  send({ type: 'filter', filter: filter(), offset: state.offset, search: $('search').value.trim() });
}

function renderConnections() {
  const list = [...state.connections.values()].sort((a, b) => b.connectedAt - a.connectedAt).slice(0, 200);
  $('connection-count').textContent = '(' + Math.max(state.total, state.offset + list.length) + ')';
  $('page').textContent = state.total > 200 ? (state.offset + 1) + '–' + Math.min(state.offset + 200, state.total) : '';
  const rows = list.map((c) => el('div', { class: 'row' + (c.id === state.selected ? ' selected' : ''), 'data-id': c.id, onclick: () => select(c.id) },
    el('span', { class: 'dot ' + c.status, title: c.status }),
    el('span', {}, el('span', { class: 'id' }, c.id), ' ', el('span', { class: 'muted' }, c.user ?? '')),
    el('span', { class: 'muted' }, c.status === 'closed' ? 'closed ' + (c.closeCode ?? '') : duration(c)),
    el('span', { class: 'counters' }, '→ ' + c.messagesIn + ' / ' + size(c.bytesIn) + '  ← ' + c.messagesOut + ' / ' + size(c.bytesOut) +
      (c.rttMs !== undefined ? '  rtt ' + c.rttMs + ' ms' : '') + (c.channels && c.channels.length ? '  ' + c.channels.join(', ') : '') + (c.droppedFrames ? '  (' + c.droppedFrames + ' dropped)' : '') +
      (c.errors && c.errors.length ? '  ⚠ ' + c.errors.length + ' error(s), last: ' + c.errors[c.errors.length - 1] : ''))));
  $('connections').replaceChildren(...(rows.length ? rows : [el('div', { class: 'empty' }, 'No connections yet.')]));
}

function matchesOffline(f, frame) {
  const c = state.connections.get(frame.connection);
  return (!frame.control || f.control) && (!f.connection || frame.connection === f.connection) && (!f.direction || frame.direction === f.direction) &&
    (!f.channel || frame.channel === f.channel) && (!f.event || frame.event === f.event) && (!f.user || c?.user === f.user) &&
    (!f.text || (frame.text ?? '').toLowerCase().includes(f.text.toLowerCase()));
}

/** What the content column shows: the frame without what the other columns already say. */
function preview(x) {
  if (x.binary) return '[binary] ' + (x.hex ?? '');
  const text = x.text ?? '';
  try {
    const value = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      // The payload first: it is what tells one frame from the next.
      const rest = 'data' in value ? { data: value.data, ...value } : { ...value };
      for (const key of ['type', 'channel', 'event', 'id']) delete rest[key];
      return Object.keys(rest).length ? JSON.stringify(rest) : '';
    }
  } catch {}
  return text;
}

function renderFrames() {
  const f = filter();
  const frames = state.offline ? state.frames.filter((x) => matchesOffline(f, x)) : state.frames;
  const rows = frames.slice(-500).map((x) => el('tr', { class: 'frame' + (x.type === 'error' ? ' error' : '') + (state.frame === x.seq ? ' selected' : ''), 'data-seq': x.seq, onclick: () => showFrame(x) },
    el('td', { class: 'c-time muted' }, time(x.time)),
    el('td', { class: 'c-dir dir ' + x.direction, title: x.direction === 'in' ? 'client → server' : 'server → client' }, x.direction === 'in' ? '→' : '←'),
    el('td', { class: 'c-conn id muted', title: x.connection }, x.connection),
    el('td', { class: 'c-type type' }, x.type),
    el('td', { class: 'c-where', title: [x.channel, x.event].filter(Boolean).join(' · ') }, [x.channel, x.event].filter(Boolean).join(' · ')),
    el('td', { class: 'c-id muted' }, [x.id !== undefined ? '#' + x.id : '', x.latencyMs !== undefined ? x.latencyMs + ' ms' : ''].filter(Boolean).join(' · ')),
    el('td', { class: 'c-size muted', title: x.size + ' bytes' + (x.truncated ? ', cut at capture' : '') }, size(x.size) + (x.truncated ? ' (cut)' : '')),
    el('td', { class: 'c-content preview' }, (x.preview ??= preview(x)).slice(0, 400))));
  const selected = state.selected && state.connections.get(state.selected);
  if (selected && selected.status === 'closed') {
    rows.push(el('tr', { class: 'closed' }, el('td', { class: 'c-time' }, time(selected.closedAt)), el('td', { class: 'c-dir' }, '✕'), el('td', { class: 'c-conn' }, ''),
      el('td', { class: 'c-type' }, 'closed'), el('td', { colspan: 4 }, (selected.closeCode ?? '') + ' ' + (selected.closeReason ?? ''))));
  }
  $('frames-table').classList.toggle('one', Boolean(state.selected));
  $('frames').replaceChildren(...rows);
  $('timeline-scope').textContent = state.selected ? state.selected : 'all connections';
  const timeline = $('timeline');
  if (!state.paused) timeline.scrollTop = timeline.scrollHeight;
}

function pretty(frame) {
  if (frame.binary) return 'binary, ' + frame.size + ' bytes\\n' + (frame.hex ?? '');
  try { return JSON.stringify(JSON.parse(frame.text), null, 2); } catch { return frame.text ?? ''; }
}
function showFrame(frame) {
  state.frame = frame.seq;
  state.current = frame;
  $('detail').classList.remove('muted');
  $('detail').textContent = pretty(frame) + (frame.truncated ? '\\n… (truncated at capture)' : '');
  showActions();
  renderFrames();
}

function select(id) {
  state.selected = state.selected === id ? undefined : id;
  showActions();
  $('action-target').textContent = state.selected ?? '';
  renderConnections();
  applyFilter();
}

function act(message) {
  $('action-result').textContent = '…';
  send({ type: 'action', ...message });
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  el('a', { href: url, download: name }).click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

$('pause').onclick = () => {
  state.paused = !state.paused;
  $('pause').textContent = state.paused ? 'Resume' : 'Pause';
  $('pause').setAttribute('aria-pressed', String(state.paused));
  $('paused').classList.toggle('hidden', !state.paused);
  $('paused-note').classList.toggle('hidden', !state.paused);
  document.body.classList.toggle('paused', state.paused);
  send({ type: state.paused ? 'pause' : 'resume' });
};
for (const id of ['f-user', 'f-channel', 'f-event', 'f-direction', 'f-text', 'f-control']) $(id).addEventListener('input', applyFilter);
$('search').addEventListener('input', () => { state.offset = 0; applyFilter(); });
$('all').onclick = () => { state.selected = undefined; select(undefined); };
$('next').onclick = () => { if (state.offset + 200 < state.total) { state.offset += 200; applyFilter(); } };
$('prev').onclick = () => { state.offset = Math.max(0, state.offset - 200); applyFilter(); };
$('copy').onclick = () => state.current && navigator.clipboard?.writeText(pretty(state.current));
$('download').onclick = () => state.current && download('frame-' + state.current.seq + '.json', pretty(state.current), 'application/json');
$('replay').onclick = () => state.current && act({ action: 'replay', seq: state.current.seq, repeatKey: $('repeat-key').checked });
$('replay-new').onclick = () => state.current && act({ action: 'replay', seq: state.current.seq, where: 'new', repeatKey: $('repeat-key').checked });
$('export-test').onclick = async () => {
  const res = await fetch(base + '/test.mjs?connection=' + encodeURIComponent(state.selected), { headers: credential ? { authorization: 'Bearer ' + credential } : {} });
  if (res.ok) download(state.selected + '.test.mjs', await res.text(), 'text/javascript');
};
$('send').onclick = () => act({ action: 'send', connection: state.selected, text: $('send-text').value });
$('close').onclick = () => act({ action: 'close', connection: state.selected, code: Number($('close-code').value) });
$('publish').onclick = () => {
  let data;
  try { data = JSON.parse($('pub-data').value || 'null'); } catch { $('action-result').textContent = 'data is not JSON'; return; }
  act({ action: 'publish', channel: $('pub-channel').value, event: $('pub-event').value, data });
};
$('export').onclick = async () => {
  const res = await fetch(base + '/export.jsonl', { headers: credential ? { authorization: 'Bearer ' + credential } : {} });
  if (res.ok) download('switchboard-session.jsonl', await res.text(), 'application/x-ndjson');
};
$('import-button').onclick = () => $('import').click();
$('import').onchange = async () => {
  const file = $('import').files[0];
  if (!file) return;
  state.offline = true;
  ws?.close();
  const connections = new Map();
  const frames = [];
  for (const line of (await file.text()).split('\\n')) {
    if (!line.trim()) continue;
    const record = JSON.parse(line);
    if (record.kind === 'connection') connections.set(record.id, record);
    else if (record.kind === 'frame') frames.push(record);
  }
  Object.assign(state, { connections, frames, total: connections.size, offset: 0, selected: undefined });
  showActions();
  $('notice').textContent = 'Viewing ' + file.name + ' (imported, not live). Reload to go back to the live session.';
  $('notice').classList.remove('hidden');
  $('stats').textContent = connections.size + ' connections · ' + frames.length + ' frames (imported)';
  renderConnections();
  renderFrames();
};
connect();
`;
