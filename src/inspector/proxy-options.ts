/**
 * The proxy's options and how they resolve: the public option and result types, the upstream's
 * URL taken apart, and the mapping of a path on the proxy to one on the upstream.
 */
import type { StoreLimits } from './limits.js';
import type { InspectorStore } from './store.js';
import type { TrackingOptions } from './tracking.js';

export interface ProxyOptions extends TrackingOptions {
  /** The backend: ws://, wss://, http:// or https://host:port, with an optional base path. */
  upstream: string;
  /** Port the proxy listens on. Default 0: any free port (see `port` on the result). */
  port?: number;
  /** Address the proxy listens on. Default 127.0.0.1. */
  host?: string;
  /**
   * Which paths are forwarded: requests under it go to the upstream with the prefix replaced by
   * the upstream's base path; others get 404 (the panel's path excepted). Default '/': all.
   */
  pathPrefix?: string;
  /** Serve the panel on its own port (same host) instead of `panelPath` on the proxy's. */
  panelPort?: number;
  /** The panel's path. Default '/inspector'. */
  panelPath?: string;
  /** Guards the panel, its exports and its socket (needed for a proxy reachable from elsewhere). */
  credential?: string;
  /**
   * Replay, send and close from the panel. Default: on when a credential is set or the proxy
   * listens on a loopback address only; never on otherwise.
   */
  actions?: boolean;
  /** Host names the panel answers without a credential besides loopback ones (DNS rebinding). */
  allowedHosts?: string[];
  limits?: Partial<StoreLimits>;
  /** A hex preview of binary frames (and the bytes to replay them). Default true. */
  showBinaryPreview?: boolean;
  /** Send the upstream's host in the Host header instead of the client's. Default false. */
  changeHost?: boolean;
  /** Bound on connecting to the upstream and on its answer to a handshake. Default 10 s. */
  connectTimeoutMs?: number;
  /** One line per connection opened and closed (paths with credentials redacted). */
  log?: (line: string) => void;
}

export interface InspectorProxy {
  /** http://host:port of the proxy: point clients at its ws:// form. */
  readonly url: string;
  readonly port: number;
  /** Where the panel is. */
  readonly panelUrl: string;
  readonly store: InspectorStore;
  close(): Promise<void>;
}

export interface Upstream {
  secure: boolean;
  hostname: string;
  port: number;
  /**
   * Its base path without a trailing slash ('' for '/'), or undefined when its URL has no path
   * at all: then paths are forwarded unchanged (as nginx's proxy_pass without a URI).
   */
  base: string | undefined;
  /** host[:port] as in its URL. */
  authority: string;
  /** ws[s]://host[:port] */
  origin: string;
}

export function parseUpstream(upstream: string): Upstream {
  let url: URL;
  try {
    url = new URL(upstream);
  } catch {
    throw new TypeError(`upstream must be a URL such as ws://127.0.0.1:8000, not "${upstream}"`);
  }
  if (!['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol))
    throw new TypeError(`upstream must be ws://, wss://, http:// or https://, not ${url.protocol}`);
  const secure = url.protocol === 'wss:' || url.protocol === 'https:';
  return {
    secure,
    hostname: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || (secure ? 443 : 80)),
    base: /^[a-z]+:\/\/[^/?#]+[/]/i.test(upstream) ? url.pathname.replace(/\/+$/, '') : undefined,
    authority: url.host,
    origin: `${secure ? 'wss' : 'ws'}://${url.host}`,
  };
}

/** The path prefix as compared: leading slash, no trailing one ('' for '/'). */
export function normalizePrefix(prefix: string): string {
  const withSlash = prefix.startsWith('/') ? prefix : `/${prefix}`;
  return withSlash.replace(/\/+$/, '');
}

export const isLoopback = (host: string) =>
  host === 'localhost' || host === '::1' || host === '[::1]' || /^127\./.test(host);

/** The address clients reach a proxy listening on `host` at, as written in a URL. */
export function proxyAddress(host: string): string {
  const bound = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  return bound.includes(':') ? `[${bound}]` : bound;
}

/** Maps a path (and query) on the proxy to one on the upstream; undefined: not forwarded. */
export type PathMapper = (url: string) => string | undefined;

/**
 * The path on the upstream for a path (and query) on the proxy; undefined: not forwarded. As
 * nginx's proxy_pass: unchanged when the upstream URL has no path, else with the prefix
 * replaced by the upstream's path.
 */
export function pathMapper(upstream: Upstream, prefix: string): PathMapper {
  return (url) => {
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    const query = q === -1 ? '' : url.slice(q);
    if (prefix !== '' && path !== prefix && !path.startsWith(`${prefix}/`)) return undefined;
    const mappedPath =
      upstream.base === undefined ? path : `${upstream.base}${path.slice(prefix.length)}` || '/';
    return `${mappedPath}${query}`;
  };
}

/** The value to forward for a request header: the upstream's host for Host with `changeHost`. */
export function forwardedHeaderValue(
  name: string,
  value: string,
  upstream: Upstream,
  changeHost: boolean | undefined,
): string {
  return name === 'host' && changeHost ? upstream.authority : value;
}
