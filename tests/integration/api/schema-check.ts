/**
 * A small validator for the subset of JSON Schema 2020-12 the OpenAPI document uses. It throws on
 * any keyword it does not know, so the document cannot grow a constraint that this check would
 * silently skip: then either the checker learns the keyword or the document drops it.
 */

type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['description', 'title', 'default', 'format', 'examples']);
const KEYWORDS = new Set([
  'type',
  'properties',
  'required',
  'additionalProperties',
  'items',
  'enum',
  'const',
  'pattern',
  'minimum',
  'maximum',
  'minItems',
  'oneOf',
  '$ref',
]);

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function typeMatches(value: unknown, type: string): boolean {
  const actual = typeOf(value);
  return actual === type || (type === 'number' && actual === 'integer');
}

/** Every problem of `value` against `schema` (`root` resolves `#/…` references); empty when valid. */
export function validate(value: unknown, schema: Schema, root: Schema, path = '$'): string[] {
  for (const key of Object.keys(schema))
    if (!KEYWORDS.has(key) && !ANNOTATIONS.has(key))
      throw new Error(`schema keyword ${key} at ${path} is not supported`);
  if (typeof schema.$ref === 'string') return validate(value, resolve(root, schema.$ref), root, path);
  const problems: string[] = [];
  const fail = (message: string) => problems.push(`${path}: ${message}`);
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => typeMatches(value, t)))
      return [`${path}: expected ${types.join('|')}, got ${typeOf(value)}`];
  }
  if (schema.enum !== undefined && !(schema.enum as unknown[]).includes(value))
    fail(`not one of ${JSON.stringify(schema.enum)}`);
  if ('const' in schema && value !== schema.const) fail(`not ${JSON.stringify(schema.const)}`);
  if (
    typeof value === 'string' &&
    typeof schema.pattern === 'string' &&
    !new RegExp(schema.pattern, 'u').test(value)
  )
    fail(`does not match ${schema.pattern}`);
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail(`below ${schema.minimum}`);
    if (typeof schema.maximum === 'number' && value > schema.maximum) fail(`above ${schema.maximum}`);
  }
  if (Array.isArray(value)) problems.push(...checkArray(value, schema, root, path));
  if (typeOf(value) === 'object')
    problems.push(...checkObject(value as Record<string, unknown>, schema, root, path));
  if (schema.oneOf !== undefined) {
    const matching = (schema.oneOf as Schema[]).filter((s) => validate(value, s, root, path).length === 0);
    if (matching.length !== 1) fail(`matches ${matching.length} of the oneOf schemas, not exactly 1`);
  }
  return problems;
}

function checkArray(value: unknown[], schema: Schema, root: Schema, path: string): string[] {
  const problems: string[] = [];
  if (typeof schema.minItems === 'number' && value.length < schema.minItems)
    problems.push(`${path}: fewer than ${schema.minItems} items`);
  if (schema.items !== undefined)
    for (const [i, item] of value.entries())
      problems.push(...validate(item, schema.items as Schema, root, `${path}[${i}]`));
  return problems;
}

function checkObject(value: Record<string, unknown>, schema: Schema, root: Schema, path: string): string[] {
  const problems: string[] = [];
  const properties = (schema.properties ?? {}) as Record<string, Schema>;
  for (const name of (schema.required ?? []) as string[])
    if (!(name in value)) problems.push(`${path}: missing ${name}`);
  for (const [name, member] of Object.entries(value)) {
    const sub = properties[name];
    if (sub !== undefined) problems.push(...validate(member, sub, root, `${path}.${name}`));
    else if (schema.additionalProperties === false) problems.push(`${path}: unexpected member ${name}`);
    else if (typeof schema.additionalProperties === 'object')
      problems.push(...validate(member, schema.additionalProperties as Schema, root, `${path}.${name}`));
  }
  return problems;
}

function resolve(root: Schema, ref: string): Schema {
  if (!ref.startsWith('#/')) throw new Error(`only local references are supported: ${ref}`);
  let node: unknown = root;
  for (const part of ref.slice(2).split('/')) node = (node as Record<string, unknown>)[part];
  if (typeof node !== 'object' || node === null) throw new Error(`unresolved reference ${ref}`);
  return node as Schema;
}
