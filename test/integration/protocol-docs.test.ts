import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  type ClientFrame,
  CloseCode,
  ErrorCode,
  isErrorCode,
  parseClientFrame,
  parseServerFrame,
  type ServerFrame,
  shouldReconnect,
} from '../../src/protocol/index.js';

/**
 * docs/protocol.md is the reference other-language clients are written from: its examples must
 * be frames the real validators accept, and its code tables must match the code exactly.
 */
const doc = readFileSync(new URL('../../docs/protocol.md', import.meta.url), 'utf8');
const lines = doc.split(/\r?\n/);

// Records keyed by the frame unions, so tsc fails here when a frame type is added or removed.
const clientTypeSet: Record<ClientFrame['type'], true> = {
  connect: true,
  refresh: true,
  subscribe: true,
  unsubscribe: true,
  publish: true,
  rpc: true,
  presence: true,
  history: true,
  ping: true,
  pong: true,
};
const serverTypeSet: Record<ServerFrame['type'], true> = {
  reply: true,
  error: true,
  message: true,
  ping: true,
  unsubscribed: true,
};
const CLIENT_TYPES = Object.keys(clientTypeSet);
const SERVER_TYPES = Object.keys(serverTypeSet);

/** Marks a ```json block as a reply payload (no `type`) rather than a frame. */
const PAYLOAD_MARKER = '<!-- payload -->';

interface JsonBlock {
  /** 1-based line of the opening fence, for failure messages. */
  line: number;
  text: string;
  payload: boolean;
}

function jsonBlocks(): JsonBlock[] {
  const blocks: JsonBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*```json\s*$/.test(lines[i]!)) continue;
    let previous = i - 1;
    while (previous >= 0 && lines[previous]!.trim() === '') previous--;
    const payload = previous >= 0 && lines[previous]!.includes(PAYLOAD_MARKER);
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    if (i >= lines.length) throw new Error(`Unclosed json block at line ${start + 1}`);
    blocks.push({ line: start + 1, text: body.join('\n'), payload });
  }
  return blocks;
}

function cells(row: string): string[] {
  const inner = row.trim().replace(/^\|/, '').replace(/\|$/, '');
  return inner.split(/(?<!\\)\|/).map((cell) => cell.trim());
}

/** The body rows of the one table whose header cells are exactly `header`. */
function table(header: string[]): string[][] {
  const starts = lines
    .map((line, index) => ({ line, index }))
    .filter(
      ({ line }) =>
        line.trim().startsWith('|') && cells(line).join('\u0000') === header.join('\u0000'),
    );
  expect(starts, `tables with header ${header.join(' | ')}`).toHaveLength(1);
  const rows: string[][] = [];
  // Skip the header and its |---| separator line.
  for (let i = starts[0]!.index + 2; i < lines.length && lines[i]!.trim().startsWith('|'); i++) {
    rows.push(cells(lines[i]!));
  }
  return rows;
}

/** A code cell holds the bare value, optionally in backticks. */
function bare(cell: string): string {
  return cell.replace(/^`([^`]*)`$/, '$1');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `ping` goes both ways: the client's is a request and has an id, the server's has none. */
function isClientFrame(frame: Record<string, unknown>): boolean {
  const type = frame['type'] as string;
  if (!CLIENT_TYPES.includes(type)) return false;
  return !SERVER_TYPES.includes(type) || 'id' in frame;
}

const blocks = jsonBlocks();

/** Every frame of the non-payload blocks (batches flattened), where it is, and what it parsed as. */
function documentedFrames(): { where: string; value: unknown }[] {
  return blocks
    .filter((block) => !block.payload)
    .flatMap((block) => {
      let value: unknown;
      try {
        value = JSON.parse(block.text);
      } catch {
        return [];
      }
      const where = `json block at docs/protocol.md:${block.line}`;
      return (Array.isArray(value) ? value : [value]).map((frame) => ({ where, value: frame }));
    });
}

/** The frame types of one direction that have at least one valid example. */
function exampleTypes(direction: 'client' | 'server'): string[] {
  const types = new Set<string>();
  for (const { value } of documentedFrames()) {
    if (!isObject(value) || typeof value['type'] !== 'string') continue;
    if (isClientFrame(value) !== (direction === 'client')) continue;
    const valid =
      direction === 'client' ? parseClientFrame(value).ok : parseServerFrame(value) !== undefined;
    if (valid) types.add(value['type']);
  }
  return [...types].sort();
}

function checkClientFrame(frame: Record<string, unknown>, where: string): void {
  const parsed = parseClientFrame(frame);
  expect(parsed, `${where}: ${JSON.stringify(frame)}`).toEqual({ ok: true, frame });
  // The validator ignores unknown fields, so a misspelt optional field would pass unnoticed.
  // Every documented field (but free-form `data`) must be one the validator checks: given a
  // value no check accepts, the frame must then fail.
  for (const field of Object.keys(frame)) {
    if (field === 'type' || field === 'data') continue;
    const broken = parseClientFrame({ ...frame, [field]: Symbol(field) });
    expect(broken.ok, `${where}: "${field}" is not a field of "${frame['type']}"`).toBe(false);
  }
}

function checkServerFrame(frame: Record<string, unknown>, where: string): void {
  expect(parseServerFrame(frame), `${where}: ${JSON.stringify(frame)}`).toBeDefined();
  if (frame['type'] === 'error') {
    expect(isErrorCode(frame['code']), `${where}: unknown code ${frame['code']}`).toBe(true);
  }
  if (frame['type'] === 'ping')
    expect(frame, `${where}: a server ping has no id`).not.toHaveProperty('id');
}

describe('docs/protocol.md examples', () => {
  it('has json examples, some of them reply payloads', () => {
    expect(blocks.length).toBeGreaterThan(0);
    expect(blocks.some((block) => block.payload)).toBe(true);
  });

  for (const block of blocks) {
    const where = `json block at docs/protocol.md:${block.line}`;
    it(`${where} is ${block.payload ? 'a reply payload' : 'valid'}`, () => {
      let value: unknown;
      expect(() => {
        value = JSON.parse(block.text);
      }, where).not.toThrow();

      if (block.payload) {
        // The marker only excuses a block from frame validation; it must not hide a frame.
        expect(isObject(value), `${where}: a payload is an object`).toBe(true);
        expect(value, `${where}: a payload has no frame type`).not.toHaveProperty('type');
        const publications = (value as Record<string, unknown>)['publications'];
        if (Array.isArray(publications)) {
          for (const publication of publications) {
            expect(isObject(publication) && publication['type'], where).toBe('message');
            checkServerFrame(publication as Record<string, unknown>, where);
          }
        }
        return;
      }

      const frames = Array.isArray(value) ? value : [value];
      expect(frames.length, `${where}: an empty batch`).toBeGreaterThan(0);
      for (const frame of frames) {
        expect(isObject(frame), `${where}: a frame is an object`).toBe(true);
        const record = frame as Record<string, unknown>;
        const type = record['type'];
        expect(
          typeof type,
          `${where}: a frame has a string type (or mark it ${PAYLOAD_MARKER})`,
        ).toBe('string');
        expect(
          CLIENT_TYPES.includes(type as string) || SERVER_TYPES.includes(type as string),
          `${where}: unknown frame type "${type}"`,
        ).toBe(true);
        if (isClientFrame(record)) checkClientFrame(record, where);
        else checkServerFrame(record, where);
      }
    });
  }

  it('shows at least one valid example of every client frame type', () => {
    expect(exampleTypes('client')).toEqual([...CLIENT_TYPES].sort());
  });

  it('shows at least one valid example of every server frame type', () => {
    expect(exampleTypes('server')).toEqual([...SERVER_TYPES].sort());
  });
});

describe('docs/protocol.md code tables', () => {
  it('the error table lists exactly the codes of ErrorCode', () => {
    const rows = table(['Code', 'Meaning', 'Sent by']);
    const codes = rows.map((row) => bare(row[0]!));
    expect(codes.sort()).toEqual(Object.values(ErrorCode).sort());
    for (const row of rows) {
      expect(row, `error table row ${row[0]}`).toHaveLength(3);
      expect(row[1], `meaning of ${row[0]}`).not.toBe('');
      expect(row[2], `sender of ${row[0]}`).toMatch(/server|client/);
    }
  });

  it('the close table lists exactly the numbers of CloseCode, with shouldReconnect()', () => {
    const rows = table(['Code', 'Name', 'Meaning', 'Reconnect']);
    const numbers = rows.map((row) => Number(row[0]));
    expect(rows.map((row) => row[0])).toEqual(numbers.map(String));
    expect([...numbers].sort((a, b) => a - b)).toEqual(
      Object.values(CloseCode).sort((a, b) => a - b),
    );
    const names = new Map<number, string>(
      Object.entries(CloseCode).map(([name, code]) => [code, name]),
    );
    for (const row of rows) {
      const code = Number(row[0]);
      expect(row, `close table row ${code}`).toHaveLength(4);
      expect(bare(row[1]!), `name of ${code}`).toBe(names.get(code));
      expect(row[2], `meaning of ${code}`).not.toBe('');
      expect(row[3], `reconnect after ${code}`).toBe(shouldReconnect(code) ? 'yes' : 'no');
    }
  });
});
