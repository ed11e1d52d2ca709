import { DEFAULTS } from '../server/defaults.js';
import { type ObjectSpec, permission, url } from './spec.js';

/** The schema of one channel pattern's settings (`channels.<pattern>` in src/cli/schema.ts). */

export const channel: ObjectSpec = {
  type: 'object',
  doc: 'Settings of the channels matching one pattern.',
  fields: {
    history: {
      type: 'object',
      doc: 'Publications kept for recovery after a reconnect and for `history` requests.',
      fields: {
        size: { type: 'integer', doc: 'Publications kept; 0 keeps none.', default: 0, min: 0 },
        ttlMs: {
          type: 'integer',
          doc: 'Publications older than this (milliseconds) are dropped.',
          default: DEFAULTS.history.ttlMs,
          min: 1,
        },
        ttlSeconds: {
          type: 'integer',
          doc: 'The old name of `ttlMs`, in seconds; still read (`ttlSeconds: 60` is `ttlMs: 60000`).',
          min: 1,
          oldNameOf: { key: 'ttlMs', factor: 1000 },
        },
      },
    },
    presence: {
      type: 'boolean',
      doc: 'Track who is subscribed (`$join`/`$leave` events, presence requests).',
      default: false,
    },
    streams: {
      type: 'object',
      toggle: true,
      doc: 'Allow streams (ordered chunks with an end marker; late joiners catch up): `true`, or a section with the settings below.',
      fields: {
        timeoutMs: {
          type: 'integer',
          doc: 'A stream that writes nothing for this long is ended with an error.',
          default: DEFAULTS.streams.timeoutMs,
          min: 100,
        },
        compact: {
          type: 'boolean',
          doc: 'When a server-written stream ends, its end marker carries every chunk and replaces them in history (one publication per finished stream); `false` keeps every chunk.',
          default: true,
        },
        history: {
          type: 'object',
          doc: "Where stream chunks are kept when the channel's own `history` keeps none.",
          fields: {
            size: {
              type: 'integer',
              doc: "Chunks kept (when the channel's `history.size` is 0).",
              default: DEFAULTS.streams.history.size,
              min: 1,
            },
            ttlMs: {
              type: 'integer',
              doc: 'Chunks older than this (milliseconds) are dropped.',
              default: DEFAULTS.streams.history.ttlMs,
              min: 1,
            },
          },
        },
      },
    },
    latest: {
      type: 'object',
      toggle: true,
      doc: "Keep each event's latest publication (an agent's status): subscribers get them first, marked, and `GET /api/latest` reads them. `true`, or a section with the settings below. Ephemeral events count; stream chunks do not.",
      fields: {
        maxEvents: {
          type: 'integer',
          doc: 'Event names kept; a new one when full evicts the least recently updated.',
          default: DEFAULTS.latest.maxEvents,
          min: 1,
          max: 10_000,
        },
        ttlMs: {
          type: 'integer',
          doc: "The channel's latest values are forgotten this long (milliseconds) after the last one.",
          default: DEFAULTS.latest.ttlMs,
          min: 1,
        },
      },
    },
    ephemeral: {
      type: 'list',
      doc: 'Events delivered to current subscribers only, never kept (e.g. `typing`).',
      default: [],
    },
    events: {
      type: 'list',
      doc: 'Events clients may publish; empty allows any.',
      default: [],
    },
    subscribe: permission('Who may subscribe.', 'all'),
    publish: permission('Who may publish from a client.', 'none'),
    presenceRead: permission('Who may ask who is here.', 'all'),
    historyRead: permission('Who may read history.', 'all'),
    proxy: {
      type: 'string',
      doc: 'Authorize endpoint for `proxy` permissions of this pattern; default `proxy.authorize`.',
      url,
    },
  },
};
