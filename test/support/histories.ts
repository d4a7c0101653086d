import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireEnv } from './env';

/**
 * Writes a finished run's history to test/histories/<name>.json for the replay test, in the JSON
 * form `temporal workflow show --output json` gives. Only when asked: RECORD_HISTORIES=1 records
 * every run, RECORD_HISTORIES=<name>[,<name>…] only those (the histories of new paths).
 */
export function recordHistory(workflowId: string, name: string): void {
  const record = process.env.RECORD_HISTORIES;
  if (record !== '1' && !record?.split(',').includes(name)) return;
  const json = execFileSync(join('.tools', 'py', 'bin', 'temporal'), [
    'workflow',
    'show',
    '--workflow-id',
    workflowId,
    '--address',
    requireEnv('TEMPORAL_ADDRESS'),
    '--output',
    'json',
  ]);
  writeFileSync(join('test', 'histories', `${name}.json`), json);
}
