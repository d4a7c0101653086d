import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  capabilityCovers,
  formatCapability,
  normalizePath,
  parseCapability,
  uncoveredCapabilities,
  type Capability,
} from './exec';

const caps = (...texts: string[]): Capability[] =>
  texts.map((t) => {
    const cap = parseCapability(t);
    assert.ok(cap, `${t} parses`);
    return cap;
  });

describe('capability grammar', () => {
  test('every form parses and formats back to itself (paths normalized)', () => {
    for (const text of [
      'fs.read(/data)',
      'fs.write(/tmp/out)',
      'net.connect(api.example.com:443)',
      'net.connect(10.0.0.1)',
      'net.connect([::1]:8080)',
      'proc.spawn',
      'tool:run-command',
      'tool:github.getIssue',
      'tool:mcp-a:search',
    ])
      assert.equal(formatCapability(parseCapability(text)!), text);
    assert.equal(formatCapability(parseCapability('fs.read(/data/./x/../y/)')!), 'fs.read(/data/y)');
    assert.equal(
      formatCapability(parseCapability('net.connect(API.Example.com:443)')!),
      'net.connect(api.example.com:443)',
    );
  });

  test('malformed, relative, escaping and out-of-range capabilities are refused', () => {
    for (const text of [
      '',
      'fs.read(data)',
      'fs.read(/../etc)',
      'fs.exec(/bin)',
      'net.connect(host:0)',
      'net.connect(host:65536)',
      'net.connect(a b)',
      'proc.spawn()',
      'tool:',
      'tool:sp ace',
      'tool:-dash',
      'fs.read(/a)(/b)',
      'fs.read(/a\0b)',
    ])
      assert.equal(parseCapability(text), null, text);
    assert.equal(normalizePath('/a/../..'), null);
    assert.equal(normalizePath('/'), '/');
  });

  test('a grant covers only what is inside it', () => {
    const cover = (outer: string, inner: string) =>
      capabilityCovers(parseCapability(outer)!, parseCapability(inner)!);
    assert.ok(cover('fs.read(/data)', 'fs.read(/data/x/y)'));
    assert.ok(cover('fs.read(/data)', 'fs.read(/data)'));
    assert.ok(!cover('fs.read(/data)', 'fs.read(/database)'), 'a sibling with the same prefix is not inside');
    assert.ok(!cover('fs.read(/data)', 'fs.write(/data/x)'), 'read does not grant write');
    assert.ok(cover('fs.write(/data)', 'fs.read(/data/x)'), 'write implies read');
    assert.ok(cover('fs.read(/)', 'fs.read(/etc)'));
    assert.ok(cover('net.connect(db.internal)', 'net.connect(db.internal:5432)'), 'no port = any port');
    assert.ok(
      !cover('net.connect(db.internal:5432)', 'net.connect(db.internal)'),
      'a port does not grant all',
    );
    assert.ok(!cover('net.connect(db.internal:5432)', 'net.connect(db.internal:5433)'));
    assert.ok(!cover('net.connect(db.internal)', 'net.connect(other.internal)'));
    assert.ok(cover('tool:a', 'tool:a'));
    assert.ok(!cover('tool:a', 'tool:b'));
    assert.ok(cover('proc.spawn', 'proc.spawn'));
  });

  test('uncoveredCapabilities names what a request would widen', () => {
    const granted = caps('fs.read(/w)', 'net.connect(api:443)', 'tool:run');
    assert.deepEqual(uncoveredCapabilities(granted, caps('fs.read(/w/a)', 'tool:run')), []);
    assert.deepEqual(
      uncoveredCapabilities(granted, caps('fs.write(/w/a)', 'proc.spawn', 'net.connect(api:443)')).map(
        formatCapability,
      ),
      ['fs.write(/w/a)', 'proc.spawn'],
    );
  });
});
