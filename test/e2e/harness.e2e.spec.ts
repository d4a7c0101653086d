// The e2e harness itself: the apps a test file starts do not outlive that file.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { until } from '@axle/testing';

/** Running, not merely a zombie left for init to reap. */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

test('apps die with a test file stopped by SIGTERM, as the runner stops one past its timeout', async () => {
  // The runner's SIGTERM skips `after` hooks; the apps used to live on, retrying a stack that was gone.
  const harness = join(process.cwd(), 'dist', 'test', 'support', 'axle-processes.js');
  const file = spawn(
    process.execPath,
    [
      '-e',
      `const { AxleProcesses } = require(${JSON.stringify(harness)});
       AxleProcesses.create().then((axle) => {
         console.log(axle.start('gateway').pid);
         setInterval(() => undefined, 1_000);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let gatewayPid = 0;
  try {
    let out = '';
    file.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    gatewayPid = await until('the test file to print its gateway pid', () => {
      const pid = Number.parseInt(out, 10);
      return pid > 0 ? pid : undefined;
    });
    assert.ok(alive(gatewayPid));
    const exited = new Promise<number | null>((resolve) => file.once('exit', (code) => resolve(code)));
    file.kill('SIGTERM');
    assert.equal(await exited, 143);
    await until(
      'the gateway to end with its test file',
      () => (alive(gatewayPid) ? undefined : true),
      10_000,
    );
  } finally {
    if (gatewayPid > 0 && alive(gatewayPid)) process.kill(gatewayPid, 'SIGKILL');
    file.kill('SIGKILL');
  }
});
