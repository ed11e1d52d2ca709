/** An observer of the gateway's traffic; defined with every public type in types.ts. */
export type { Tap } from './types.js';
