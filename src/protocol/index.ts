export { CloseCode, shouldReconnect } from './close-codes.js';
export { type Codec, jsonCodec } from './codec.js';
export { ErrorCode, isErrorCode, SwitchboardError, toSwitchboardError } from './errors.js';
export * from './frames.js';
export {
  MAX_DATA_DEPTH,
  MAX_KEY_LENGTH,
  MAX_NAME_LENGTH,
  MAX_TOKEN_LENGTH,
  type Parsed,
  parseClientFrame,
  parseServerFrame,
} from './validate.js';
