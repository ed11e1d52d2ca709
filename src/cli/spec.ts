/**
 * The language the configuration schema is written in: one spec type per kind of option, the
 * permission values channels take, and the small builders the tables share (src/cli/schema.ts).
 */

interface Common {
  doc: string;
  /** Extra environment variables read for this option, before the derived SWITCHBOARD_… one. */
  env?: readonly string[];
  /** Never echoed back in errors. */
  secret?: boolean;
  /**
   * An old name of another option (its dotted key): read from files, the environment and --set
   * as that option, and reported back with the same value.
   */
  aliasOf?: string;
  /**
   * An old name of a sibling option in another unit (`ttlSeconds` for `ttlMs`, factor 1000): read
   * as that option, its value times `factor`; not reported back (the current name is).
   */
  oldNameOf?: { key: string; factor: number };
}

export interface StringSpec extends Common {
  type: 'string';
  default?: string;
  enum?: readonly string[];
  /** Must parse as a URL with one of these protocols. */
  url?: readonly string[];
}
export interface IntegerSpec extends Common {
  type: 'integer';
  default?: number;
  min?: number;
  max?: number;
}
export interface BooleanSpec extends Common {
  type: 'boolean';
  default?: boolean;
}
export interface ListSpec extends Common {
  type: 'list';
  default?: readonly string[];
}
export interface PermissionSpec extends Common {
  type: 'permission';
  default: Permission;
}
export interface ObjectSpec extends Common {
  type: 'object';
  fields: Record<string, Spec>;
  /**
   * The section also takes true or false, as the library's `boolean | { … }` options do: false
   * (the default) leaves it off, true turns it on with the fields' defaults, a map turns it on
   * with those settings. The resolved value is false or the section.
   */
  toggle?: boolean;
}
/** Keys chosen by the user (channel patterns, header names); not settable from the environment. */
export interface MapSpec extends Common {
  type: 'map';
  key: string;
  value: Spec;
}
export type Spec =
  | StringSpec
  | IntegerSpec
  | BooleanSpec
  | ListSpec
  | PermissionSpec
  | ObjectSpec
  | MapSpec;

/**
 * Who may do something on a channel: everyone authenticated, no client (only the server and
 * its HTTP API), the user the channel is named after (`notes:alice` for alice), users whose
 * token lists one of these roles, or whatever the backend's authorize endpoint answers.
 */
export type Permission = 'all' | 'none' | 'owner' | 'proxy' | { roles: string[] };

export const PERMISSION_DOC =
  "`all`, `none`, `owner` (the channel's last `:` segment is the user id), `proxy` (ask the backend) or `{ roles: [...] }`";

export const MAX_PORT = 65_535;
export const url = ['http:', 'https:'] as const;
export const permission = (doc: string, fallback: Permission): PermissionSpec => ({
  type: 'permission',
  doc,
  default: fallback,
});
