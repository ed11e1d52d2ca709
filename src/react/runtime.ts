/**
 * Where the hooks run: in a browser, or rendering on the server (no socket, no layout effects).
 */
import { useEffect, useLayoutEffect } from 'react';

export const isBrowser = typeof window !== 'undefined';
export const noop = () => {};
/** useLayoutEffect in the browser; useEffect on the server, where React warns about the other. */
export const useIsomorphicLayoutEffect = isBrowser ? useLayoutEffect : useEffect;
