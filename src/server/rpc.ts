import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { type StandardSchemaV1, validate } from '../shared/standard-schema.js';
import type { RpcHandler, RpcOptions, ServerConnection } from './types.js';

/** The RPC registry: handlers by method name (`'*'` serves every method without its own). */
export class Rpcs {
  readonly #handlers = new Map<
    string,
    { handler: RpcHandler; schema: StandardSchemaV1 | undefined }
  >();

  register(name: string, handler: RpcHandler<never>, options: RpcOptions = {}): void {
    if (this.#handlers.has(name)) throw new Error(`RPC "${name}" is already registered`);
    this.#handlers.set(name, { handler: handler as RpcHandler, schema: options.schema });
  }

  /** Validates the request's data against the method's schema, then runs its handler. */
  async call(connection: ServerConnection, method: string, data: unknown): Promise<unknown> {
    const entry = this.#handlers.get(method) ?? this.#handlers.get('*');
    if (!entry) throw new SwitchboardError(ErrorCode.NOT_FOUND, `Unknown method "${method}"`);
    let input = data;
    if (entry.schema) {
      const result = await validate(entry.schema, data);
      if (!result.ok) {
        throw new SwitchboardError(ErrorCode.VALIDATION_FAILED, `Invalid "${method}" request`, {
          issues: result.issues,
        });
      }
      input = result.value;
    }
    return entry.handler(input, { connection, identity: connection.identity!, method });
  }
}
