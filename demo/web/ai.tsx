/**
 * The demo's AI chat: `useChat` from @ai-sdk/react over SwitchboardChatTransport, on the page's
 * Switchboard connection. Everyone who opens the same chat (`?chat=…`) sees its replies live; a
 * reload resumes the reply in progress; Stop ends it for everyone.
 */
import { useChat } from '@ai-sdk/react';
import { StrictMode, useMemo, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { SwitchboardChatTransport } from 'switchboard/ai';
import { SwitchboardProvider, useClient, useConnectionState } from 'switchboard/react';

const params = new URLSearchParams(location.search);
const chat = params.get('chat') ?? 'lobby';
const name = params.get('name') ?? sessionStorage.getItem('name') ?? '';
if (name) sessionStorage.setItem('name', name);

/** A development login: the demo server signs a short-lived token for any name. */
async function fetchToken(): Promise<string> {
  const res = await fetch(`/login?name=${encodeURIComponent(name)}`, { method: 'POST' });
  return ((await res.json()) as { token: string }).token;
}

function Chat() {
  const client = useClient();
  // One transport per client; it follows the chat's channel until the page goes.
  const transport = useMemo(() => client && new SwitchboardChatTransport({ client }), [client]);
  const state = useConnectionState();
  const { messages, sendMessage, stop, status, resumeStream } = useChat({
    id: chat,
    ...(transport && { transport }),
    resume: true,
  });
  const [text, setText] = useState('');
  const busy = status === 'submitted' || status === 'streaming';
  return (
    <>
      <header>
        <h1>AI chat</h1>
        <span className="who">
          chat <b>{chat}</b> as <b className="me">{name || 'guest'}</b> · <a href="/">rooms</a>
        </span>
        <span className={`badge ${state}`} data-state={state}>
          {state}
        </span>
      </header>
      <main>
        <div className="log">
          {messages.length === 0 && (
            <div className="line empty">
              Ask anything: a mock model answers through the AI SDK, streamed over Switchboard. Open
              this page twice, or reload it mid-reply.
            </div>
          )}
          {messages.map((message) => (
            <div
              key={message.id}
              className={`line ${message.role === 'assistant' ? 'agent' : 'message'}`}
              data-role={message.role}
            >
              <b>{message.role === 'assistant' ? 'agent' : 'you'}</b>{' '}
              <span className="text">
                {message.parts.map((part) => (part.type === 'text' ? part.text : '')).join('')}
              </span>
            </div>
          ))}
        </div>
      </main>
      <div className="typing" aria-live="polite" data-status={status}>
        {status === 'streaming' ? 'the agent is answering…' : ''}
      </div>
      <form
        className="composer"
        onSubmit={(event) => {
          event.preventDefault();
          const value = text.trim();
          if (!value || busy) return;
          setText('');
          void sendMessage({ text: value });
        }}
      >
        <input
          value={text}
          onChange={(e) => setText(e.target.value)}
          placeholder="Ask the agent…"
          aria-label="Message"
          autoComplete="off"
        />
        {busy ? (
          <button type="button" className="stop" onClick={() => void stop()}>
            Stop
          </button>
        ) : (
          <button type="submit">Send</button>
        )}
        <button type="button" className="follow" onClick={() => void resumeStream()}>
          Follow
        </button>
      </form>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <SwitchboardProvider
      options={{ url: `${location.origin.replace(/^http/, 'ws')}/ws`, token: fetchToken }}
    >
      <Chat />
    </SwitchboardProvider>
  </StrictMode>,
);
