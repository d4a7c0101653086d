// The exec lib loads whichever of its modules comes first: exec-job.service and exec-session.service
// import each other, and a DI token declared in one of them was uninitialised (a ReferenceError at
// startup of every app) when the other's decorators ran first. Each check runs in a fresh process.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';

function loadAlone(file: string) {
  return spawnSync(
    process.execPath,
    ['-e', `require('reflect-metadata'); require(${JSON.stringify(join(__dirname, file))});`],
    { encoding: 'utf8', timeout: 60_000 },
  );
}

describe('exec module load order', () => {
  for (const file of ['index.js', 'exec-job.service.js', 'exec-session.service.js', 'axp-rpc.service.js'])
    test(`${file} loads first without an uninitialised binding`, () => {
      const res = loadAlone(file);
      assert.equal(res.status, 0, res.stderr);
    });
});
