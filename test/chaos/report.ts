import { execSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { type ScenarioResult } from './harness';

export const REPORT = 'docs/reliability.md';

const NOT_YET = `## Not yet done

Later increments of issue #8; \`npm run chaos\` does not run them yet:

- **kill -9** of the worker, the runner and a gateway at random moments during a 1,000-intent load,
  then restart: every intent terminal, no gap or duplicate in any event sequence, no duplicate
  terminal event, no job stuck.
- **Redis restart** mid-load: 503 + Retry-After meanwhile, recovery without manual steps, nothing
  accepted lost.
- **PostgreSQL restart** mid-load: the same.
`;

function git(args: string): string {
  try {
    return execSync(`git ${args}`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

function section(r: ScenarioResult): string {
  const esc = (s: string | number) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const lines = [
    `<!-- scenario:${r.name} -->`,
    `### ${r.name}: ${r.passed ? 'PASS' : 'FAIL'}`,
    '',
    r.what,
    '',
    '| | |',
    '| --- | --- |',
    ...r.counts.map(([k, v]) => `| ${esc(k)} | ${esc(v)} |`),
    `| duration | ${r.seconds.toFixed(1)} s |`,
    '',
    r.findings.length
      ? `Findings:\n\n${r.findings.map((f) => `- ${f.includes('\n') ? `\n  \`\`\`\n${f.replace(/^/gm, '  ')}\n  \`\`\`` : f}`).join('\n')}`
      : 'Findings: none.',
    `<!-- /scenario:${r.name} -->`,
  ];
  return lines.join('\n');
}

/**
 * Writes docs/reliability.md: the header (machine, date, commit) is rewritten, each scenario that
 * ran replaces its own section, and sections of scenarios that did not run this time are kept.
 */
export function writeReport(results: ScenarioResult[], order: string[], seed: number): void {
  const old = existsSync(REPORT) ? readFileSync(REPORT, 'utf8') : '';
  const sections = new Map<string, string>();
  for (const m of old.matchAll(/<!-- scenario:([a-z-]+) -->[\s\S]*?<!-- \/scenario:\1 -->/g))
    if (m[1]) sections.set(m[1], m[0]);
  for (const r of results) sections.set(r.name, section(r));
  const dirty = git('status --porcelain --untracked-files=no') ? ' (with uncommitted changes)' : '';
  const cpu = os.cpus();
  const header = `# Reliability

Written by \`npm run chaos\` (scripts/chaos.mjs → test/chaos/). It builds, starts a private
PostgreSQL, Redis and Temporal on random loopback ports (as \`npm test\` does), runs the built
gateway, worker and runner, and tries to break them. \`npm run chaos -- <scenario…>\` runs a subset
(sections of the others are kept from their last run); \`--seed N\` reproduces a fuzz run,
\`--runs N\` sets the fuzz count, \`--storm N\` the storm size, \`--minutes N\` the soak time.
The command exits non-zero when a scenario fails.

Last run: ${new Date().toISOString()}, commit ${git('rev-parse --short HEAD')}${dirty}, branch ${git('rev-parse --abbrev-ref HEAD')};
${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM (shared with other work), ${os.type()} ${os.release()}, Node ${process.version}.
Scenarios this run: ${results.map((r) => `${r.name} ${r.passed ? 'PASS' : 'FAIL'}`).join(', ')}; fuzz seed ${seed}.

## Scenarios
`;
  const body = order
    .filter((n) => sections.has(n))
    .map((n) => sections.get(n))
    .join('\n\n');
  writeFileSync(REPORT, `${header}\n${body}\n\n${NOT_YET}`);
}
