import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { ENV_KEYS } from '../../../src/config/env.js';
import { configSchema } from '../../../src/config/schema.js';

/** Every leaf key of the schema with its default, walked from the parsed defaults. */
function leafKeys(value: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value))
      for (const [p, d] of leafKeys(v, prefix ? `${prefix}.${k}` : k)) out.set(p, d);
  } else out.set(prefix, value);
  return out;
}

describe('docs/CONFIG.md', () => {
  it('documents every configuration key with its real default, and no key that does not exist', async () => {
    const doc = await readFile(new URL('../../../docs/CONFIG.md', import.meta.url), 'utf8');
    const rows = new Map<string, string>();
    for (const match of doc.matchAll(/^\| `([a-zA-Z.]+)` \| `([^`]*)` \|/gm))
      rows.set(match[1] ?? '', match[2] ?? '');
    const keys = leafKeys(configSchema.parse({}));
    expect([...rows.keys()].sort()).toEqual([...keys.keys()].sort());
    for (const [key, value] of keys) expect(rows.get(key), key).toBe(String(value));
  });

  it('documents every environment variable next to the key it sets', async () => {
    const doc = await readFile(new URL('../../../docs/CONFIG.md', import.meta.url), 'utf8');
    for (const [name, spec] of Object.entries(ENV_KEYS)) {
      expect(doc, name).toMatch(
        new RegExp(`\\| \`${spec.path.replaceAll('.', '\\.')}\` \\|[^\\n]*\`${name}\``),
      );
    }
  });
});
