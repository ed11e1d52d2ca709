import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/cli/config.js';
import { SHUTDOWN_BACKSTOP_MS } from '../../src/cli/serve.js';
import { DEFAULTS } from '../../src/server/defaults.js';
import { startServer } from '../helpers.js';

/**
 * docs/deployment.md is copied into Dockerfiles, unit files and manifests: every file on it is
 * parsed here (no container engine runs) and held to the server's paths, defaults and exit
 * behaviour.
 */
const doc = readFileSync(new URL('../../docs/deployment.md', import.meta.url), 'utf8');
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  name: string;
  bin: Record<string, string>;
  engines: { node: string };
};

/** The fenced blocks of the doc with this info string. */
function blocks(lang: string): string[] {
  return [...doc.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)]
    .filter((match) => match[1] === lang)
    .map((match) => match[2]!);
}

function only(lang: string, containing?: string): string {
  const found = blocks(lang).filter((text) => !containing || text.includes(containing));
  expect(found, `one ${lang} block${containing ? ` with ${containing}` : ''}`).toHaveLength(1);
  return found[0]!;
}

/** Where the package's bin lives once installed, as the doc's files name it. */
const installedBin = normalize(join('node_modules', pkg.name, pkg.bin.switchboard!));
const linkedBin = `node_modules/.bin/${Object.keys(pkg.bin)[0]}`;
const runsTheBin = (argv: readonly string[]) =>
  argv[0] === linkedBin ||
  (/(^|\/)node$/.test(argv[0]!) && normalize(argv[1] ?? '').endsWith(installedBin));

const closeTimeoutMs = DEFAULTS.limits.closeTimeoutMs;
const drainMs = closeTimeoutMs + SHUTDOWN_BACKSTOP_MS;

// ── a Dockerfile parser: enough of the format to lint it ──────────────────────────────────

const INSTRUCTIONS = new Set([
  'ADD',
  'ARG',
  'CMD',
  'COPY',
  'ENTRYPOINT',
  'ENV',
  'EXPOSE',
  'FROM',
  'HEALTHCHECK',
  'LABEL',
  'ONBUILD',
  'RUN',
  'SHELL',
  'STOPSIGNAL',
  'USER',
  'VOLUME',
  'WORKDIR',
]);

interface Instruction {
  name: string;
  args: string;
  line: number;
}

function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    // Continuation lines: a trailing backslash joins the next (comment lines inside are skipped).
    while (line.endsWith('\\') && i + 1 < lines.length) {
      i++;
      if (/^\s*#/.test(lines[i]!)) continue;
      line = `${line.slice(0, -1)} ${lines[i]!.trim()}`;
    }
    const match = /^\s*(\S+)\s*(.*)$/.exec(line)!;
    out.push({ name: match[1]!, args: match[2]!.trim(), line: start + 1 });
  }
  return out;
}

/** ENV's key=value pairs (quoted values allowed). */
function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|(\S*))/g))
    out[match[1]!] = match[3] ?? match[4]!;
  return out;
}

/** An exec-form (JSON array) command; undefined for shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  expect(Array.isArray(parsed) && parsed.every((part) => typeof part === 'string')).toBe(true);
  return parsed as string[];
}

describe('docs/deployment.md', () => {
  it('the Dockerfile: known instructions, node:20 slim, not root, the port, the bin, a health check', async () => {
    const instructions = parseDockerfile(only('dockerfile'));
    for (const { name, line } of instructions)
      expect(INSTRUCTIONS.has(name), `line ${line}: ${name} is not a Dockerfile instruction`).toBe(
        true,
      );
    expect(instructions.find((i) => i.name !== 'ARG')?.name).toBe('FROM');

    const from = instructions.filter((i) => i.name === 'FROM');
    expect(from).toHaveLength(1);
    const image = from[0]!.args.split(/\s+/)[0]!;
    const tag = /^node:(\d+)(?:\.\d+)*-(slim|alpine|bookworm-slim|bullseye-slim)$/.exec(image);
    expect(tag, `FROM ${image}: a slim node image`).not.toBeNull();
    expect(Number(tag![1])).toBeGreaterThanOrEqual(Number(/\d+/.exec(pkg.engines.node)![0]));

    const env = Object.assign(
      {},
      ...instructions.filter((i) => i.name === 'ENV').map((i) => envPairs(i.args)),
    ) as Record<string, string>;
    expect(env.HOST).toBe('0.0.0.0');
    const port = Number(env.PORT ?? 8000);
    const exposed = instructions
      .filter((i) => i.name === 'EXPOSE')
      .flatMap((i) => i.args.split(/\s+/).map((p) => Number(p.split('/')[0])));
    expect(exposed).toEqual([port]);

    const cmdIndex = instructions.findIndex((i) => i.name === 'CMD');
    expect(cmdIndex).toBe(instructions.length - 1);
    const users = instructions.slice(0, cmdIndex).filter((i) => i.name === 'USER');
    const user = users.at(-1)?.args.split(':')[0];
    expect(user, 'a USER before CMD').toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(instructions.some((i) => i.name === 'ENTRYPOINT')).toBe(false);

    const argv = execForm(instructions[cmdIndex]!.args);
    expect(argv, 'CMD in exec form, so node receives SIGTERM').toBeDefined();
    expect(argv!.join(' ')).not.toMatch(/\bnpx\b|\bnpm\b/);
    expect(runsTheBin(argv!), `CMD ${argv!.join(' ')} runs the bin`).toBe(true);
    expect(argv).toContain('serve');
    const configFile = argv![argv!.indexOf('-c') + 1]!;
    const copied = instructions
      .filter((i) => i.name === 'COPY')
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(copied).toContain(configFile);
    expect(copied).toContain('package.json');
    const stop = instructions.find((i) => i.name === 'STOPSIGNAL');
    if (stop) expect(stop.args).toBe('SIGTERM');

    // The health check asks a health path on the exposed port, and it works against a server.
    const healthcheck = instructions.filter((i) => i.name === 'HEALTHCHECK');
    expect(healthcheck).toHaveLength(1);
    const check = /^(?:--\S+\s+)*CMD\s+(.*)$/.exec(healthcheck[0]!.args);
    const checkArgv = execForm(check![1]!);
    const url = /http:\/\/127\.0\.0\.1:(\d+)(\/\S*?)['"]/.exec(checkArgv!.join(' '));
    expect(Number(url![1])).toBe(port);
    expect([DEFAULTS.health.path, DEFAULTS.health.readyPath]).toContain(url![2]);
    const { port: live } = await startServer({ health: true });
    // Run in a child process without blocking this one: the server answers from here.
    const run = (target: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(
          checkArgv![0]!,
          checkArgv!.slice(1).map((part) => part.replace(`:${port}/`, `:${target}/`)),
          { stdio: 'ignore', timeout: 10_000 },
        );
        child.on('exit', (code) => resolve(code));
      });
    expect(await run(live)).toBe(0);
    const { port: noHealth } = await startServer();
    expect(await run(noHealth)).toBe(1);

    // docker run's stop timeout covers the drain.
    const stopTimeout = /--stop-timeout (\d+)/.exec(only('sh', 'docker run'));
    expect(Number(stopTimeout![1]) * 1000).toBeGreaterThan(drainMs);
  });

  it('the configuration file is valid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'switchboard-deploy-'));
    const file = join(dir, 'switchboard.yaml');
    writeFileSync(file, only('yaml', 'channels:'));
    const config = loadConfig({
      file,
      env: { SWITCHBOARD_AUTH_JWT_SECRET: 'from-the-environment', HOST: '0.0.0.0', PORT: '8000' },
    });
    expect(config.host).toBe('0.0.0.0');
    expect(config.limits.closeTimeoutMs).toBe(closeTimeoutMs);
  });

  it('the systemd unit runs the bin and waits out the drain', () => {
    const unit = only('ini');
    const settings = new Map<string, string>();
    for (const line of unit.split('\n')) {
      if (/^\s*(#|;|\[|$)/.test(line)) continue;
      const equals = line.indexOf('=');
      expect(equals, `a key=value line: ${line}`).toBeGreaterThan(0);
      settings.set(line.slice(0, equals), line.slice(equals + 1));
    }
    const exec = settings.get('ExecStart')!.split(/\s+/);
    expect(exec.join(' ')).not.toMatch(/\bnpx\b|\bnpm\b/);
    expect(runsTheBin(exec.map((part) => part.replace(/^\/srv\/switchboard\//, '')))).toBe(true);
    expect(settings.get('KillSignal') ?? 'SIGTERM').toBe('SIGTERM');
    expect(Number(settings.get('TimeoutStopSec')) * 1000).toBeGreaterThan(drainMs);
    expect(settings.get('RestartPreventExitStatus')?.split(/\s+/)).toContain('2');
    expect(settings.get('User')).not.toBe('root');
  });

  it('the PM2 file runs the bin and waits out the drain', () => {
    const module = { exports: {} as { apps: Record<string, unknown>[] } };
    new Function('module', only('js', 'apps'))(module);
    const [app] = module.exports.apps;
    expect(normalize(app!.script as string)).toBe(installedBin);
    expect(String(app!.args).split(' ')[0]).toBe('serve');
    expect(app!.kill_timeout as number).toBeGreaterThan(drainMs);
    expect(app!.stop_exit_codes).toContain(2);
  });

  it('the Kubernetes probes: liveness /healthz, readiness /readyz, grace longer than the drain', () => {
    const manifest = parseYaml(only('yaml', 'kind: Deployment'));
    const pod = manifest.spec.template.spec;
    const [container] = pod.containers;
    const env = Object.fromEntries(
      container.env
        .filter((e: { value?: string }) => e.value !== undefined)
        .map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(env.HOST).toBe('0.0.0.0');
    const ports = new Map<string, number>(
      container.ports.map((p: { name: string; containerPort: number }) => [
        p.name,
        p.containerPort,
      ]),
    );
    const portOf = (probe: { httpGet: { port: string | number } }) =>
      typeof probe.httpGet.port === 'number' ? probe.httpGet.port : ports.get(probe.httpGet.port);
    expect(portOf(container.livenessProbe)).toBe(Number(env.PORT ?? 8000));
    expect(portOf(container.readinessProbe)).toBe(Number(env.PORT ?? 8000));
    expect(container.livenessProbe.httpGet.path).toBe(DEFAULTS.health.path);
    expect(container.readinessProbe.httpGet.path).toBe(DEFAULTS.health.readyPath);

    const preStop = container.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const closeMs = Number(env.SWITCHBOARD_LIMITS_CLOSE_TIMEOUT_MS ?? closeTimeoutMs);
    const needed = Number(preStop[1]) * 1000 + closeMs + SHUTDOWN_BACKSTOP_MS;
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(needed);
    expect(JSON.stringify(container)).not.toMatch(/\bnpx\b/);
  });
});
