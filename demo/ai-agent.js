// The demo's AI chat (the page at /ai.html): a real AI SDK pipeline — streamText over a mock
// language model that needs no network or key — served with switchboard/ai's serveChat, so
// useChat on the page streams over the same Switchboard connection as the rest of the demo.
import { simulateReadableStream, streamText } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';
import { serveChat } from 'switchboard/ai';

/** The chats' channels: streams on, written by the server only (through serveChat). */
export const aiChannels = {
  'ai:*': { streams: { timeoutMs: 30_000 }, clientPublish: false },
};

/** What the mock model answers: the question back, then an explanation, word by word. */
export function demoAnswer(question) {
  return `You asked: "${question.slice(0, 200)}". This reply comes from the AI SDK's streamText over a mock model, published by serveChat as a Switchboard stream: reload the page mid-reply and it resumes without doubling a word; open it in a second window and both follow it live; press Stop in either and the generation ends for both.`;
}

function mockModel(text) {
  const words = text.split(/(?<= )/);
  return new MockLanguageModelV4({
    doStream: async () => ({
      stream: simulateReadableStream({
        chunks: [
          { type: 'text-start', id: 'answer' },
          ...words.map((delta) => ({ type: 'text-delta', id: 'answer', delta })),
          { type: 'text-end', id: 'answer' },
          {
            type: 'finish',
            finishReason: { unified: 'stop', raw: undefined },
            usage: {
              inputTokens: { total: 0, noCache: 0, cacheRead: undefined, cacheWrite: undefined },
              outputTokens: { total: words.length, text: words.length, reasoning: undefined },
            },
          },
        ],
        initialDelayInMs: 300,
        chunkDelayInMs: 70,
      }),
    }),
  });
}

/** Serves the demo's AI chats on `ai:<chat id>`; returns the running service. */
export function serveDemoChat(server) {
  return serveChat(server, {
    channel: 'ai:',
    handler: ({ messages, signal }) => {
      const last = messages.at(-1);
      const question = (last?.parts ?? [])
        .map((part) => (part?.type === 'text' && typeof part.text === 'string' ? part.text : ''))
        .join('');
      return streamText({
        model: mockModel(demoAnswer(question)),
        prompt: question || 'hello',
        abortSignal: signal,
      }).toUIMessageStream();
    },
  });
}
