import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The demo's pages (the rooms, and the AI chat at /ai.html); `npm start` builds them into
// demo/dist and demo/server.js serves them.
const web = (file) => fileURLToPath(new URL(`./web/${file}`, import.meta.url));
export default defineConfig({
  root: web(''),
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('./dist', import.meta.url)),
    emptyOutDir: true,
    rollupOptions: {
      input: { main: web('index.html'), ai: web('ai.html') },
      // @ai-sdk/react's swr marks its modules 'use client', which a client-only build drops.
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
