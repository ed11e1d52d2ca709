import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The demo's page; `npm start` builds it into demo/dist and demo/server.js serves it.
export default defineConfig({
  root: fileURLToPath(new URL('./web', import.meta.url)),
  logLevel: 'warn',
  build: { outDir: fileURLToPath(new URL('./dist', import.meta.url)), emptyOutDir: true },
});
