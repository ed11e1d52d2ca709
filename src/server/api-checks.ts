import { ErrorCode, SwitchboardError } from '../protocol/errors.js';
import { type Checked, isName, MAX_NAME_LENGTH } from '../protocol/validate.js';
import type { JsonSchema } from './api-schemas.js';

/**
 * The HTTP API's request checks: a body's keys against its schema, and the fields operations
 * read. Malformed input is BAD_FRAME, as on the WebSocket path; VALIDATION_FAILED is kept for
 * what it means there: the payload failed the channel's schema.
 */

export type Body = Record<string, unknown>;

export function malformed(message: string): SwitchboardError {
  return new SwitchboardError(ErrorCode.BAD_FRAME, message);
}

export function isBody(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Enforces what the schema declares of an object's keys: `required` and `additionalProperties`. */
export function checkShape(body: Body, schema: JsonSchema): void {
  const properties = (schema.properties ?? {}) as Record<string, unknown>;
  if (schema.additionalProperties === false) {
    for (const key of Object.keys(body))
      if (!Object.hasOwn(properties, key)) throw malformed(`Unknown field "${key}"`);
  }
  for (const key of (schema.required ?? []) as string[])
    if (body[key] === undefined) throw malformed(`"${key}" is required`);
}

/** Throws the error a shared protocol check (checkPublication…) found, with its code. */
export function orThrow(checked: Checked): void {
  if (!checked.ok) throw new SwitchboardError(checked.code, checked.message);
}

/** The field as a protocol name: a string of 1 to MAX_NAME_LENGTH characters. */
export function name(body: Body, key: string): string {
  const value = body[key];
  if (!isName(value))
    throw malformed(`"${key}" must be a string of 1 to ${MAX_NAME_LENGTH} characters`);
  return value;
}

/** The field as an integer within bounds, or undefined when it is absent. */
export function integer(body: Body, key: string, min: number, max: number): number | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    throw malformed(`"${key}" must be an integer from ${min} to ${max}`);
  return value as number;
}
