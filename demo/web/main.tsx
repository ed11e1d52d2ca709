import { StrictMode, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
  type ChannelMessage,
  type StreamState,
  SwitchboardProvider,
  useChannel,
  useConnectionState,
  useEvent,
  usePresence,
  useRequest,
  useStreams,
  useSubscription,
  useTyping,
} from 'switchboard/react';

type RoomEvents = { message: { text: string }; typing: Record<string, never> };
type AgentStatus = { id: string; state: 'thinking' | 'searching' | 'done'; progress?: number };

const params = new URLSearchParams(location.search);
const room = params.get('room') ?? 'lobby';
let name = params.get('name') ?? sessionStorage.getItem('name') ?? '';
if (name) sessionStorage.setItem('name', name);

/** A development login: the demo server signs a short-lived token for any name. */
async function fetchToken(): Promise<string> {
  const res = await fetch(`/login?name=${encodeURIComponent(name)}`, { method: 'POST' });
  return ((await res.json()) as { token: string }).token;
}

/** Connection state, honestly: reconnecting while down, then whether missed messages came back. */
function StatusBadge() {
  const state = useConnectionState();
  const sub = useSubscription(`room:${room}`);
  const [recovery, setRecovery] = useState('');
  useEffect(() => {
    if (!sub) return;
    const offs = [
      sub.on('recovered', () => setRecovery('recovered')),
      sub.on('gap', () => setRecovery('reloaded history')),
    ];
    return () => {
      for (const off of offs) off();
    };
  }, [sub]);
  useEffect(() => {
    if (!recovery) return;
    const timer = setTimeout(() => setRecovery(''), 3000);
    return () => clearTimeout(timer);
  }, [recovery]);
  return (
    <span className={`badge ${state}`} data-state={state}>
      {state}
      {recovery && state === 'connected' ? ` · ${recovery}` : ''}
    </span>
  );
}

/** The agent's reply opens after the room's newest message then (the server says which). */
interface ReplyOpening {
  for?: string;
  after?: { offset: number; epoch: string };
}

/** One line of the room's log: a person's message or an agent reply, in publication order. */
type Line =
  | { kind: 'message'; key: string; message: ChannelMessage<RoomEvents> }
  | { kind: 'reply'; key: string; reply: StreamState };

/**
 * The room's messages and the agent's replies as one log. The two channels count offsets apart,
 * so a reply sits after the room message its opening names (`after`), before anything later.
 */
function interleave(
  messages: readonly ChannelMessage<RoomEvents>[],
  replies: readonly StreamState[],
): Line[] {
  const placed = [
    ...messages.map((message) => ({
      at: message.meta.offset ?? Number.POSITIVE_INFINITY,
      rank: 0,
      line: {
        kind: 'message',
        key: `m:${message.meta.epoch}:${message.meta.offset}`,
        message,
      } as Line,
    })),
    ...replies.map((reply, index) => ({
      at: (reply.data as ReplyOpening | undefined)?.after?.offset ?? Number.POSITIVE_INFINITY,
      rank: 1 + index, // replies come in their own channel's order
      line: { kind: 'reply', key: `r:${reply.id}`, reply } as Line,
    })),
  ];
  return placed.sort((a, b) => a.at - b.at || a.rank - b.rank).map((p) => p.line);
}

function AgentLine({ reply, status }: { reply: StreamState; status: AgentStatus | undefined }) {
  // Progress only until the answer starts: once tokens stream, the text says it all.
  const label =
    reply.status === 'open' && !reply.text && status && status.state !== 'done'
      ? `[${status.state}${status.progress ? ` ${status.progress}%` : ''}]`
      : '';
  return (
    <div className="line agent" data-stream={reply.status}>
      <b>agent</b> {label && <span className="status">{label}</span>}{' '}
      <span className="text">
        {reply.text}
        {reply.status === 'error' ? ' (the agent failed)' : ''}
      </span>
    </div>
  );
}

function Room() {
  const { messages, publish, subscription } = useChannel<RoomEvents>(`room:${room}`, {
    history: 100,
  });
  const replies = useStreams(`agent:${room}`, 'reply');
  const [status, setStatus] = useState<Record<string, AgentStatus>>({});
  useEvent<{ status: AgentStatus }>(`agent:${room}`, 'status', (s) =>
    setStatus((all) => ({ ...all, [s.id]: s })),
  );
  const members = usePresence(`room:${room}`);
  const { typing, notify } = useTyping(`room:${room}`);
  const request = useRequest();
  const [text, setText] = useState('');
  // After a gap the server could not replay what was missed (a restarted in-memory broker has
  // nothing left; the default SQLite file keeps it all): say so, rather than let the log
  // silently start over.
  const [gap, setGap] = useState(false);
  useEffect(() => subscription?.on('gap', () => setGap(true)), [subscription]);
  const lines = useMemo(
    () =>
      interleave(
        messages.filter((m) => m.event === 'message'),
        replies,
      ),
    [messages, replies],
  );
  // Follow the log while it is scrolled to the bottom; leave it alone while someone reads back.
  const log = useRef<HTMLDivElement>(null);
  const follow = useRef(true);
  useLayoutEffect(() => {
    if (follow.current) log.current?.scrollTo(0, log.current.scrollHeight);
  });
  const names = [
    ...new Set(members.map((m) => (m.info as { name?: string } | undefined)?.name ?? m.user)),
  ].sort();
  const send = async (event: React.FormEvent) => {
    event.preventDefault();
    const value = text.trim();
    if (!value) return;
    setText('');
    follow.current = true;
    await publish('message', { text: value });
    if (value.startsWith('@agent')) await request('agent.ask', { room, prompt: value });
  };
  return (
    <>
      <main>
        <div
          className="log"
          ref={log}
          onScroll={(e) => {
            const el = e.currentTarget;
            follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          }}
        >
          {gap && (
            <div className="line notice">
              Reconnected, but the server could not replay what this page missed (on the in-memory
              broker, DEMO_BROKER=memory, a restart starts every room over): showing what it still
              keeps.
            </div>
          )}
          {lines.length === 0 && !gap && (
            <div className="line empty">
              No messages yet. Say hello, or ask the agent: <code>@agent what is an offset?</code>
            </div>
          )}
          {lines.map((line) =>
            line.kind === 'message' ? (
              <div className="line message" key={line.key}>
                <b>{line.message.meta.user}</b> {(line.message.data as { text: string }).text}
              </div>
            ) : (
              <AgentLine key={line.key} reply={line.reply} status={status[line.reply.id]} />
            ),
          )}
        </div>
        <aside>
          <h2>Here now</h2>
          <ul className="people">
            {names.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </aside>
      </main>
      <div className="typing" aria-live="polite">
        {typing.length ? `${typing.join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…` : ''}
      </div>
      <form className="composer" onSubmit={send}>
        <input
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            notify();
          }}
          placeholder="Say something, or ask @agent …"
          aria-label="Message"
          autoComplete="off"
        />
        <button type="submit">Send</button>
      </form>
    </>
  );
}

function App() {
  return (
    <>
      <header>
        <h1>Switchboard demo</h1>
        <span className="who">
          room <b>{room}</b> as <b className="me">{name}</b> ·{' '}
          <a href="/inspector" target="_blank" rel="noreferrer">
            inspector
          </a>
        </span>
        <StatusBadge />
      </header>
      <Room />
    </>
  );
}

/** The demo's login: pick a name; the server issues a development token for it. */
function Login({ onLogin }: { onLogin: (name: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <form
      className="login"
      onSubmit={(event) => {
        event.preventDefault();
        if (value.trim()) onLogin(value.trim().slice(0, 32));
      }}
    >
      <h1>Switchboard demo</h1>
      <p>
        Pick a name to join room “{room}”. Open another window with another name to chat with
        yourself.
      </p>
      <input
        value={value}
        onChange={(e) => setValue(e.target.value)}
        placeholder="your name"
        aria-label="Your name"
        maxLength={32}
      />
      <button type="submit">Join</button>
    </form>
  );
}

function Root() {
  const [user, setUser] = useState(name);
  if (!user) {
    return (
      <Login
        onLogin={(chosen) => {
          name = chosen;
          sessionStorage.setItem('name', chosen);
          setUser(chosen);
        }}
      />
    );
  }
  return (
    <SwitchboardProvider
      options={{ url: `${location.origin.replace(/^http/, 'ws')}/ws`, token: fetchToken }}
    >
      <App />
    </SwitchboardProvider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <Root />
  </StrictMode>,
);
