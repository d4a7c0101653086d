// The tool catalog of exec sessions (SPEC §7 "Tools", reference/agent-protocols.md §1.6): providers
// (the built-ins, each mounted MCP server) expose tools; names stay bare unless two providers expose
// the same one, then every copy is qualified `<provider>:<name>`. Every description passes the
// quality gate: one line, 10-120 bytes, not just the name.

/** A JSON Schema 2020-12 document (as plain JSON). */
export type JsonSchema = Record<string, unknown>;

export type ToolDefinition = {
  /** The name inside its provider. */
  name: string;
  desc: string;
  /** TypeScript-style, e.g. `read_file(path: string): string`. */
  signature: string;
  schema: JsonSchema;
};

export type ToolProvider = { id: string; tools: readonly ToolDefinition[] };

/** A tool as the catalog lists it: its public name (qualified only on collision) and its provider. */
export type CatalogEntry = ToolDefinition & { provider: string; localName: string };

export const DESC_MIN_BYTES = 10;
export const DESC_MAX_BYTES = 120;

/** Why a description fails the gate, or null when it passes. */
export function descriptionProblem(name: string, desc: string): string | null {
  const bytes = Buffer.byteLength(desc, 'utf8');
  if (/[\r\n]/.test(desc)) return 'must be a single line';
  if (bytes < DESC_MIN_BYTES) return `must be at least ${DESC_MIN_BYTES} bytes`;
  if (bytes > DESC_MAX_BYTES) return `must be at most ${DESC_MAX_BYTES} bytes`;
  const bare = (s: string) => s.toLowerCase().replace(/[^a-z0-9]/g, '');
  if (bare(desc) === bare(name)) return 'must say more than the name';
  return null;
}

/**
 * A one-line description from text a third party wrote (an MCP server's tool description): its first
 * line, cut on a character boundary to the byte limit; the fallback when that still fails the gate.
 */
export function oneLineDescription(name: string, raw: string | undefined, fallback: string): string {
  const first =
    (raw ?? '')
      .split(/\r?\n/)
      .map((l) => l.trim())
      .find((l) => l.length > 0) ?? '';
  let desc = first.replace(/\s+/g, ' ');
  if (Buffer.byteLength(desc, 'utf8') > DESC_MAX_BYTES) {
    const chars = [...desc];
    while (chars.length && Buffer.byteLength(`${chars.join('')}…`, 'utf8') > DESC_MAX_BYTES) chars.pop();
    desc = `${chars.join('').trimEnd()}…`;
  }
  return descriptionProblem(name, desc) === null ? desc : fallback;
}

/**
 * Builds the catalog: duplicate provider ids, duplicate names inside a provider and descriptions
 * failing the gate are errors (a programming error for built-ins; MCP providers are normalized
 * before they get here).
 */
export function buildCatalog(providers: readonly ToolProvider[]): Map<string, CatalogEntry> {
  const ids = new Set<string>();
  const owners = new Map<string, number>();
  for (const provider of providers) {
    if (ids.has(provider.id)) throw new Error(`duplicate tool provider ${provider.id}`);
    ids.add(provider.id);
    const names = new Set<string>();
    for (const tool of provider.tools) {
      if (names.has(tool.name)) throw new Error(`provider ${provider.id} has two tools named ${tool.name}`);
      names.add(tool.name);
      const problem = descriptionProblem(tool.name, tool.desc);
      if (problem) throw new Error(`tool ${provider.id}/${tool.name}: description ${problem}`);
      owners.set(tool.name, (owners.get(tool.name) ?? 0) + 1);
    }
  }
  const catalog = new Map<string, CatalogEntry>();
  for (const provider of providers)
    for (const tool of provider.tools) {
      const name = (owners.get(tool.name) ?? 0) > 1 ? `${provider.id}:${tool.name}` : tool.name;
      catalog.set(name, { ...tool, name, localName: tool.name, provider: provider.id });
    }
  return catalog;
}

/** A TypeScript-style signature from an object schema: `name(input: {a: string, b?: number}): result`. */
export function signatureOf(name: string, schema: JsonSchema, result = 'object'): string {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const fields = Object.entries(properties).map(
    ([key, prop]) => `${key}${required.has(key) ? '' : '?'}: ${typeOf(prop)}`,
  );
  return `${name}(input: {${fields.join(', ')}}): ${result}`;
}

function typeOf(schema: JsonSchema | undefined, depth = 0): string {
  if (!schema || typeof schema !== 'object') return 'unknown';
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  const type = schema.type;
  if (Array.isArray(type)) return type.map((t) => typeOf({ ...schema, type: t }, depth)).join(' | ');
  switch (type) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array':
      return `${depth > 2 ? 'unknown' : typeOf(schema.items as JsonSchema | undefined, depth + 1)}[]`;
    case 'object':
      return 'object';
    default:
      return 'unknown';
  }
}
