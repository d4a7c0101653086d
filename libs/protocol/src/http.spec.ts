import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalJson, JSON_MAX_DEPTH, jsonDepthExceeds } from './http';

describe('canonicalJson', () => {
  test('sorts keys at every level, keeps array order', () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } }),
      '{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  test('bodies that differ only in key order are equal; others are not', () => {
    assert.equal(canonicalJson({ x: 1, y: 'two' }), canonicalJson({ y: 'two', x: 1 }));
    assert.notEqual(canonicalJson({ x: 1 }), canonicalJson({ x: '1' }));
    assert.notEqual(canonicalJson([1, 2]), canonicalJson([2, 1]));
  });

  test('scalars and missing values', () => {
    assert.equal(canonicalJson(undefined), 'null');
    assert.equal(canonicalJson('a"b'), '"a\\"b"');
    assert.equal(canonicalJson({ a: undefined, b: 1 }), '{"b":1}');
    assert.equal(canonicalJson([undefined]), '[null]');
  });
});

describe('jsonDepthExceeds', () => {
  const nested = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = i % 2 ? [value] : { a: value };
    return value;
  };

  test('counts arrays and objects alike; scalars are depth 0', () => {
    assert.equal(jsonDepthExceeds('x', 0), false);
    assert.equal(jsonDepthExceeds(null, 0), false);
    assert.equal(jsonDepthExceeds({}, 0), true);
    assert.equal(jsonDepthExceeds(nested(3), 3), false);
    assert.equal(jsonDepthExceeds(nested(4), 3), true);
    assert.equal(jsonDepthExceeds([[], { a: [] }], 3), false);
    assert.equal(jsonDepthExceeds([[], { a: [{}] }], 3), true);
  });

  test('finds the deep branch among wide shallow ones', () => {
    const wide = Array.from({ length: 10_000 }, (_, i) => ({ i }));
    assert.equal(jsonDepthExceeds([...wide, nested(JSON_MAX_DEPTH)], JSON_MAX_DEPTH), true);
    assert.equal(jsonDepthExceeds([...wide, nested(JSON_MAX_DEPTH - 1)], JSON_MAX_DEPTH), false);
  });

  test('a million levels: no stack overflow', () => {
    const deep = JSON.parse(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`) as unknown;
    assert.equal(jsonDepthExceeds(deep, JSON_MAX_DEPTH), true);
  });
});
