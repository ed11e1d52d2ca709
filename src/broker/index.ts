export { type MemoryBrokerOptions, memoryBroker } from './memory.js';
export type * from './types.js';
