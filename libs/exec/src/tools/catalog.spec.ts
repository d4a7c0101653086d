import { parseCapability } from '@axle/protocol';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BUILTIN_PROVIDER_TOOLS, planBuiltin, ToolPathRefused } from './builtins';
import { buildCatalog, descriptionProblem, oneLineDescription, signatureOf } from './catalog';
import { validateToolInput } from './input-schema';

const tool = (name: string, desc = `Does the ${name} thing well`) => ({
  name,
  desc,
  signature: `${name}(): string`,
  schema: { type: 'object' },
});

describe('tool catalog', () => {
  test('the description gate: one line, 10-120 bytes, more than the name', () => {
    assert.equal(descriptionProblem('x', 'Reads a file of the workspace'), null);
    assert.match(descriptionProblem('x', 'short')!, /at least 10/);
    assert.match(descriptionProblem('x', 'é'.repeat(61))!, /at most 120/); // 122 bytes, 61 chars
    assert.match(descriptionProblem('x', 'two\nlines here') ?? '', /single line/);
    assert.match(descriptionProblem('read_file', 'Read File!!') ?? '', /more than the name/);
    assert.throws(() => buildCatalog([{ id: 'p', tools: [tool('a', 'bad')] }]), /description/);
  });

  test('every built-in passes the gate, with a 2020-12 object schema', () => {
    const catalog = buildCatalog([BUILTIN_PROVIDER_TOOLS]);
    assert.deepEqual([...catalog.keys()], ['run_command', 'read_file', 'write_file']);
    for (const entry of catalog.values()) {
      assert.equal(entry.schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
      assert.ok(parseCapability(`tool:${entry.name}`));
    }
  });

  test('a name two providers expose is qualified for both; unique ones stay bare', () => {
    const catalog = buildCatalog([
      { id: 'a', tools: [tool('search'), tool('only_a')] },
      { id: 'b', tools: [tool('search')] },
    ]);
    assert.deepEqual([...catalog.keys()].sort(), ['a:search', 'b:search', 'only_a']);
    assert.equal(catalog.get('b:search')?.localName, 'search');
    assert.throws(
      () =>
        buildCatalog([
          { id: 'a', tools: [] },
          { id: 'a', tools: [] },
        ]),
      /duplicate/,
    );
    assert.throws(() => buildCatalog([{ id: 'a', tools: [tool('x'), tool('x')] }]), /two tools/);
  });

  test('third-party descriptions become one line within the limit, else a fallback', () => {
    assert.equal(
      oneLineDescription('s.t', '\n  Search issues.\nMore text', 'fallback text'),
      'Search issues.',
    );
    const long = oneLineDescription('s.t', 'ü'.repeat(200), 'fallback text');
    assert.ok(Buffer.byteLength(long) <= 120 && long.endsWith('…'));
    assert.equal(oneLineDescription('s.t', 'st', 'fallback text'), 'fallback text');
  });

  test('signatures from object schemas', () => {
    assert.equal(
      signatureOf('gh.search', {
        type: 'object',
        properties: {
          q: { type: 'string' },
          n: { type: 'integer' },
          tags: { type: 'array', items: { type: 'string' } },
        },
        required: ['q'],
      }),
      'gh.search(input: {q: string, n?: number, tags?: string[]}): object',
    );
  });

  test('input validation: one 422 entry per path', () => {
    const schema = BUILTIN_PROVIDER_TOOLS.tools.find((t) => t.name === 'run_command')!.schema;
    validateToolInput(schema, { argv: ['ls'] });
    assert.throws(
      () => validateToolInput(schema, { argv: [1], extra: true }),
      (err: { fields: { path: string }[] }) => {
        assert.deepEqual(err.fields.map((f) => f.path).sort(), ['input.argv.0', 'input.extra']);
        return true;
      },
    );
    assert.throws(
      () => validateToolInput(schema, {}),
      (err: { fields: { path: string }[] }) => err.fields[0]?.path === 'input.argv',
    );
  });

  test('file tools: paths normalized and checked against the workspace and fs grants', () => {
    const caps = ['fs.read(/data)', 'fs.write(/out)'].map((c) => parseCapability(c)!);
    const read = planBuiltin('read_file', { path: 'a/../b.txt' }, '/ws', caps);
    assert.equal(read.path, '/ws/b.txt');
    assert.deepEqual(read.argv.slice(3), ['read_file', '/ws/b.txt', '/ws', '/data', '/out']);
    assert.equal(planBuiltin('read_file', { path: '/data/x' }, '/ws', caps).path, '/data/x');
    for (const path of ['../etc/passwd', '/etc/shadow', '/data-x/y', '/'])
      assert.throws(() => planBuiltin('read_file', { path }, '/ws', caps), ToolPathRefused, path);
    assert.throws(
      () => planBuiltin('write_file', { path: '/data/x', content: '' }, '/ws', caps),
      ToolPathRefused,
    );
    const write = planBuiltin('write_file', { path: '/out/f', content: 'hi' }, '/ws', caps);
    assert.deepEqual(write.env, { AXLE_TOOL_CONTENT: 'hi' });
    assert.deepEqual(write.argv.slice(4), ['/out/f', '/ws', '/out']);
    assert.deepEqual(
      write.capabilities.map((c) => c.kind),
      ['fs.read', 'fs.write'],
    );
  });
});
