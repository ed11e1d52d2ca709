export { type SqliteBrokerOptions, sqliteBroker } from './broker.js';
