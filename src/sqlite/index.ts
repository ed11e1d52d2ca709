/** The `switchboard/sqlite` entry point: the SQLite broker and its options. */

export { type SqliteBrokerOptions, sqliteBroker } from './broker.js';
