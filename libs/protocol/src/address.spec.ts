import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAgentAddress } from './address';

describe('agent addresses', () => {
  test('accepts the three forms and returns the canonical one', () => {
    assert.equal(parseAgentAddress('agent://acme/ops/deployer')?.canonical, 'agent://acme/ops/deployer');
    assert.equal(parseAgentAddress('agent://acme/deployer')?.canonical, 'agent://acme/default/deployer');
    assert.equal(parseAgentAddress('acme/ops/deployer')?.canonical, 'agent://acme/ops/deployer');
  });

  test('splits org, workspace and name', () => {
    assert.deepEqual(parseAgentAddress('agent://acme/ops/checker.v2'), {
      org: 'acme',
      workspace: 'ops',
      name: 'checker.v2',
      canonical: 'agent://acme/ops/checker.v2',
    });
  });

  for (const bad of [
    '',
    'agent://',
    'agent://Acme/ops/x',
    'agent://a/ops/x',
    'acme/deployer',
    'agent://acme/ops/x/y',
    'agent://acme/ops/-x',
    'http://acme/ops/x',
    `agent://acme/ops/${'x'.repeat(70)}`,
    'agent://acme/ops/x y',
  ]) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.equal(parseAgentAddress(bad), null));
  }
});
