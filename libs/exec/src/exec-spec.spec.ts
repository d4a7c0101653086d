import { type ExecLimits } from '@axle/protocol';
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clampLimits, codeArgv, sandboxSpecOf, workspaceRelative } from './exec-spec';

const CEILINGS: ExecLimits = {
  cpu_seconds: 300,
  memory_bytes: 2 ** 31,
  wall_seconds: 3600,
  output_bytes: 64 * 2 ** 20,
  max_processes: 256,
};

describe('exec job spec', () => {
  test('limits clamp to the ceilings, default to them, and timeout_ms is the wall time', () => {
    assert.deepEqual(clampLimits({}, CEILINGS), CEILINGS);
    const limits = clampLimits({ cpu_seconds: 10, output_bytes: 2 ** 40 }, CEILINGS, 1500);
    assert.equal(limits.cpu_seconds, 10);
    assert.equal(limits.output_bytes, CEILINGS.output_bytes);
    assert.equal(limits.wall_seconds, 2);
    assert.equal(clampLimits({ wall_seconds: 5 }, CEILINGS, 100_000).wall_seconds, 5);
    assert.equal(clampLimits({}, CEILINGS, 10_000_000).wall_seconds, 3600);
  });

  test('cwd stays inside the workspace', () => {
    assert.equal(workspaceRelative(undefined), '');
    assert.equal(workspaceRelative('.'), '');
    assert.equal(workspaceRelative('a/./b/../c'), 'a/c');
    assert.equal(workspaceRelative('a/..'), '');
    assert.equal(workspaceRelative('..'), null);
    assert.equal(workspaceRelative('a/../../etc'), null);
    assert.equal(workspaceRelative('/etc'), null);
  });

  test('code runs as the interpreter program, never through string building', () => {
    assert.deepEqual(codeArgv('python', 'print(1)'), ['python3', '-c', 'print(1)']);
    assert.deepEqual(codeArgv('sh', 'echo "$X"'), ['sh', '-c', 'echo "$X"']);
  });

  test('the sandbox spec grants the workspace and exactly the job’s fs and net capabilities', () => {
    const spec = sandboxSpecOf(
      {
        spec: { argv: ['ls'], env: { A: '1' }, cwd: 'sub' },
        capabilities: ['proc.spawn', 'fs.read(/data)', 'fs.write(/tmp/out)', 'net.connect(example.com:443)'],
        limits: CEILINGS,
      },
      { grantedTier: 'kernel', workspaceDir: '/ws/s-1' },
    );
    assert.equal(spec.tier, 'kernel');
    assert.equal(spec.cwd, '/ws/s-1/sub');
    assert.deepEqual(spec.fsRead, ['/ws/s-1', '/data']);
    assert.deepEqual(spec.fsWrite, ['/ws/s-1', '/tmp/out']);
    assert.deepEqual(spec.net, [{ host: 'example.com', port: 443 }]);
  });
});
