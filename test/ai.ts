import { simulateReadableStream, type UIMessage } from 'ai';
import { MockLanguageModelV4 } from 'ai/test';

/**
 * The AI tests' model: the AI SDK's own mock language model, answering `output` word by word,
 * `delayMs` apart (null: at once). With a `gate`, it stops halfway through until the gate opens,
 * so a test can act in the middle of a reply without guessing how long a reply takes.
 */
export function mockModel(output: string[], delayMs: number | null, gate?: Promise<void>) {
  const chunks = [
    { type: 'text-start' as const, id: 't' },
    ...output.map((delta) => ({ type: 'text-delta' as const, id: 't', delta })),
    { type: 'text-end' as const, id: 't' },
    {
      type: 'finish' as const,
      finishReason: { unified: 'stop' as const, raw: undefined },
      usage: {
        inputTokens: { total: 1, noCache: 1, cacheRead: undefined, cacheWrite: undefined },
        outputTokens: { total: output.length, text: output.length, reasoning: undefined },
      },
    },
  ];
  const halfway = 1 + Math.floor(output.length / 2);
  return new MockLanguageModelV4({
    doStream: async () => ({
      stream: gate
        ? simulateReadableStream({
            chunks: chunks.slice(0, halfway),
            chunkDelayInMs: delayMs,
          }).pipeThrough(
            new TransformStream({
              flush: async (controller) => {
                await gate;
                for (const chunk of chunks.slice(halfway)) controller.enqueue(chunk);
              },
            }),
          )
        : simulateReadableStream({ chunks, chunkDelayInMs: delayMs }),
    }),
  });
}

/** A gate for `mockModel`: its replies pause halfway until `open()`. */
export function gate(): { closed: Promise<void>; open: () => void } {
  let open = () => {};
  const closed = new Promise<void>((resolve) => (open = resolve));
  return { closed, open };
}

/** The user's message asking prompt `n`. */
export function prompt(n: number): UIMessage {
  return { id: `u${n}`, role: 'user', parts: [{ type: 'text', text: String(n) }] };
}

/** The prompt number of the conversation's last message (NaN when it is not one). */
export function promptOf(messages: UIMessage[]): number {
  const part = messages.at(-1)?.parts[0];
  return Number(part?.type === 'text' ? part.text : Number.NaN);
}
