import { envNames } from './config-keys.js';
import { configSpec } from './schema.js';
import { type ObjectSpec, PERMISSION_DOC, type Spec } from './spec.js';

/** The configuration reference, from the schema: `--help` text and the docs/operations.md table. */

interface Row {
  key: string;
  type: string;
  default: string;
  env: string[];
  doc: string;
}

function typeOf(spec: Spec): string {
  switch (spec.type) {
    case 'string':
      if (spec.enum) return spec.enum.join(' | ');
      return spec.url ? 'URL' : 'string';
    case 'list':
      return 'list of strings';
    case 'map':
      return `map of ${spec.key}`;
    default:
      return spec.type;
  }
}

function defaultOf(spec: Spec): string {
  if (!('default' in spec) || spec.default === undefined) return '';
  const value = spec.default;
  if (Array.isArray(value)) return value.length ? value.join(', ') : '[]';
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function rows(spec: ObjectSpec, path: string[], withEnv: boolean): Row[] {
  const out: Row[] = [];
  for (const [key, child] of Object.entries(spec.fields)) {
    const here = [...path, key];
    if (child.type === 'object') {
      // A section that is also a switch (`streams: true`) has a row of its own.
      if (child.toggle)
        out.push({
          key: here.join('.'),
          type: 'boolean or section',
          default: 'false',
          env: [],
          doc: child.doc,
        });
      out.push(...rows(child, here, withEnv));
      continue;
    }
    out.push({
      key: here.join('.'),
      type: typeOf(child),
      default: defaultOf(child),
      env: withEnv && child.type !== 'map' ? envNames(here, child) : [],
      doc: child.doc,
    });
    if (child.type === 'map' && child.value.type === 'object') {
      out.push(...rows(child.value, [...here, `<${child.key}>`], false));
    }
  }
  return out;
}

/** Every option, for `switchboard serve --help`. */
export function helpText(): string {
  const lines: string[] = [];
  for (const row of rows(configSpec, [], true)) {
    const facts = [row.type.replaceAll(' | ', '|')];
    if (row.default) facts.push(`default ${row.default}`);
    if (row.env.length) facts.push(`env ${row.env.join(' or ')}`);
    lines.push(`  ${row.key}  (${facts.join('; ')})`);
    lines.push(`      ${row.doc.replaceAll('`', '')}`);
  }
  return lines.join('\n');
}

function cell(text: string): string {
  return text.replaceAll('|', '\\|').replaceAll('\n', ' ');
}

/** The configuration reference in docs/operations.md, generated from the same declaration. */
export function referenceMarkdown(): string {
  const lines = [
    '| Option | Type | Default | Environment | Description |',
    '| --- | --- | --- | --- | --- |',
  ];
  for (const row of rows(configSpec, [], true)) {
    lines.push(
      `| \`${row.key}\` | ${cell(row.type)} | ${row.default ? `\`${cell(row.default)}\`` : ''} | ${row.env.map((name) => `\`${name}\``).join(' ')} | ${cell(row.doc)} |`,
    );
  }
  lines.push('', `A permission is ${PERMISSION_DOC}.`);
  return lines.join('\n');
}
