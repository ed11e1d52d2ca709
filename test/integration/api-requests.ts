import { type Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { waitFor } from '../helpers.js';

/**
 * Requests to the HTTP API whose body is sent piece by piece (chunked), as a backend streaming a
 * reply or an ingest sends it, with the answer read as it arrives.
 */

export const KEY = 'test-api-key';

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  /** The JSON answer, or the NDJSON answer's values. */
  body: any;
  reusedSocket: boolean;
}

export interface Chunked {
  write(piece: string | Buffer): void;
  end(piece?: string | Buffer): void;
  /** Drops the request before its end, as a crashed backend would. */
  abort(): void;
  /** The whole answer, once it ended. */
  answer: Promise<Answer>;
  /** An NDJSON answer's lines as they arrive. */
  lines: unknown[];
  /** Waits until the NDJSON answer has this many lines. */
  linesUntil(count: number): Promise<unknown[]>;
}

export function chunked(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  agent?: Agent,
): Chunked {
  const lines: unknown[] = [];
  let request!: ReturnType<typeof httpRequest>;
  const answer = new Promise<Answer>((resolve, reject) => {
    request = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: `/api${path}`,
        method: 'POST',
        ...(agent && { agent }),
        headers: { authorization: `Bearer ${KEY}`, 'transfer-encoding': 'chunked', ...headers },
      },
      (response) => {
        let text = '';
        let partial = '';
        response.setEncoding('utf8');
        response.on('data', (piece: string) => {
          text += piece;
          partial += piece;
          const complete = partial.split('\n');
          partial = complete.pop() ?? '';
          for (const line of complete) if (line !== '') lines.push(JSON.parse(line));
        });
        response.on('end', () => {
          const ndjson = String(response.headers['content-type']).includes('ndjson');
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: ndjson ? lines : text === '' ? undefined : JSON.parse(text),
            reusedSocket: request.reusedSocket,
          });
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
  // An aborted request's rejection is expected; callers that care await `answer`.
  answer.catch(() => {});
  request.flushHeaders();
  return {
    write: (piece) => request.write(piece),
    end: (piece) => (piece === undefined ? request.end() : request.end(piece)),
    abort: () => request.destroy(),
    answer,
    lines,
    linesUntil: async (count) => {
      await waitFor(() => lines.length >= count, 5_000, `${count} lines`);
      return lines;
    },
  };
}

/** A whole request at once: JSON (or a string body as is). */
export async function api(port: number, path: string, body?: unknown, key: string | null = KEY) {
  const response = await fetch(`http://127.0.0.1:${port}/api${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key !== null && { authorization: `Bearer ${key}` }),
    },
    ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}
