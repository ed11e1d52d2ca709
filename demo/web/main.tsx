import { StrictMode, useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import {
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

function Agent() {
  const streams = useStreams(`agent:${room}`, 'reply');
  const [status, setStatus] = useState<Record<string, AgentStatus>>({});
  useEvent<{ status: AgentStatus }>(`agent:${room}`, 'status', (s) =>
    setStatus((all) => ({ ...all, [s.id]: s })),
  );
  return (
    <>
      {streams.map((stream) => {
        const s = status[stream.id];
        const label =
          stream.status === 'open' && s && s.state !== 'done'
            ? `[${s.state}${s.progress ? ` ${s.progress}%` : ''}]`
            : '';
        return (
          <div className="line agent" key={stream.id} data-stream={stream.status}>
            <b>agent</b> <span className="status">{label}</span>{' '}
            <span className="text">{stream.text}</span>
          </div>
        );
      })}
    </>
  );
}

function Room() {
  const { messages, publish } = useChannel<RoomEvents>(`room:${room}`, { history: 50 });
  const members = usePresence(`room:${room}`);
  const { typing, notify } = useTyping(`room:${room}`);
  const request = useRequest();
  const [text, setText] = useState('');
  const log = useRef<HTMLDivElement>(null);
  useEffect(() => {
    log.current?.scrollTo(0, log.current.scrollHeight);
  });
  const names = [
    ...new Set(members.map((m) => (m.info as { name?: string } | undefined)?.name ?? m.user)),
  ].sort();
  const send = async (event: React.FormEvent) => {
    event.preventDefault();
    const value = text.trim();
    if (!value) return;
    setText('');
    await publish('message', { text: value });
    if (value.startsWith('@agent')) await request('agent.ask', { room, prompt: value });
  };
  return (
    <>
      <main>
        <div className="log" ref={log}>
          {messages
            .filter((m) => m.event === 'message')
            .map((m) => (
              <div className="line message" key={`${m.meta.epoch}:${m.meta.offset}`}>
                <b>{m.meta.user}</b> {(m.data as { text: string }).text}
              </div>
            ))}
          <Agent />
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
      <div className="typing">
        {typing.length ? `${typing.join(', ')} ${typing.length > 1 ? 'are' : 'is'} typing…` : ''}
      </div>
      <form onSubmit={send}>
        <input
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            notify();
          }}
          placeholder="Say something, or start with @agent to ask the agent"
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
        <span>
          room <b>{room}</b> as <b className="me">{name}</b>
        </span>
        <a href="/inspector" target="_blank" rel="noreferrer">
          inspector
        </a>
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
      <input value={value} onChange={(e) => setValue(e.target.value)} placeholder="your name" />
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
