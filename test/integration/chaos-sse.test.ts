// Chaos again, every client over the HTTP transport (SSE + POST): streams cut at random moments.
import { forceTransport } from '../helpers.js';

forceTransport('sse');
await import('./chaos.test.js');
