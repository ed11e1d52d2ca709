export { type RedisBrokerOptions, redisBroker } from './broker.js';
