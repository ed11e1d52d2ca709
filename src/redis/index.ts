/** Public entry of the Redis broker. */
export { type RedisBrokerOptions, redisBroker } from './broker.js';
