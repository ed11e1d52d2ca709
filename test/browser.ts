import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { Server } from '../src/server/index.js';
import { onCleanup } from './helpers.js';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Debian's Chromium, as the workplace requires; CI installs it, elsewhere its tests skip. */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI) throw new Error(`CI needs Chromium at ${CHROMIUM}`);
  console.log(
    `Skipping browser tests: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`,
  );
  return false;
}

export async function launch(): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  onCleanup(() => browser.close());
  return browser;
}

/** Where the browser tests put their screenshots (git-ignored); SCREENSHOT_DIR moves it. */
export const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR ?? '.tmp/test-output/screenshots');

/** Saves a screenshot of the page under SCREENSHOT_DIR, prints its path and returns it. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path });
  console.log(`screenshot: ${path}`);
  return path;
}

/**
 * What sticks out sideways: the document's scroll width against its client width; every element
 * under `root` that reaches past the viewport's left or right edge; and every element whose
 * content is wider than its box (a long unbroken line, a table too wide for its column), unless
 * it cuts it off on purpose (overflow hidden or clip: an ellipsis). Elements are described by
 * tag, id and classes, with their extent.
 */
export function horizontalOverflow(
  page: Page,
  root = 'body',
): Promise<{ scrollWidth: number; clientWidth: number; outside: string[]; wider: string[] }> {
  return page.evaluate((selector) => {
    const doc = document.documentElement;
    const width = doc.clientWidth;
    const outside: string[] = [];
    const wider: string[] = [];
    const scope = document.querySelector(selector);
    const elements = scope ? [scope, ...Array.from(scope.querySelectorAll('*'))] : [];
    for (const el of elements) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      const classes =
        typeof el.className === 'string' && el.className
          ? `.${el.className.trim().split(/\s+/).join('.')}`
          : '';
      const name = `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${classes}`;
      if (r.left < -1 || r.right > width + 1)
        outside.push(`${name} ${Math.round(r.left)}..${Math.round(r.right)}`);
      const cuts = ['hidden', 'clip'].includes(getComputedStyle(el).overflowX);
      const control = ['INPUT', 'TEXTAREA', 'SELECT'].includes(el.tagName);
      if (!cuts && !control && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
        wider.push(`${name} ${el.scrollWidth} in ${el.clientWidth}`);
    }
    return { scrollWidth: doc.scrollWidth, clientWidth: width, outside, wider };
  }, root);
}

/** Serves `/page` and its script `/app.js` on the gateway's own port. */
export function servePage(server: Server, script: string): void {
  server.route((req, res) => {
    if (req.url?.startsWith('/app.js'))
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    else if (req.url?.startsWith('/page'))
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end('<div id="root"></div><script type="module" src="/app.js"></script>');
    else return false;
    return true;
  });
}
