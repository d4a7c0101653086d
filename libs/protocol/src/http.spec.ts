import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalJson } from './http';

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
