// `npm run chaos` runs this (after scripts/chaos.mjs has built and started the private stack): the
// chaos scenarios of issue #8 against the built gateway, worker and runner. See docs/reliability.md.
//
//   node dist/test/chaos/main.js [scenario…] [--seed N] [--runs N] [--storm N] [--minutes N] [--intents N]
import 'reflect-metadata';
import { AxleProcesses } from '@axle/testing';
import { FUZZ_JWT_SECRET, fuzz } from './fuzz';
import { type ChaosArgs, type ChaosContext, type ScenarioResult } from './harness';
import { idempotencyStorm } from './idempotency-storm';
import { k8sEnv } from './k8s';
import { kill } from './kill';
import { REPORT, writeReport } from './report';
import { restarts } from './restarts';
import { soak } from './soak';

const SCENARIOS: Record<string, (ctx: ChaosContext) => Promise<ScenarioResult>> = {
  'idempotency-storm': idempotencyStorm,
  fuzz,
  soak,
  restarts,
  kill,
};
/** Fuzz's default seed: fixed, so a plain run is reproducible; printed either way. */
const DEFAULT_SEED = 20261122;

function parseArgs(argv: string[]): ChaosArgs {
  const args: ChaosArgs = {
    scenarios: [],
    seed: DEFAULT_SEED,
    fuzzRuns: 10_000,
    stormSize: 1_000,
    soakMinutes: 3,
    killIntents: 1_000,
  };
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n)) throw new Error(`${flag} needs a number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--seed') args.seed = num(a, argv[++i]);
    else if (a === '--runs') args.fuzzRuns = num(a, argv[++i]);
    else if (a === '--storm') args.stormSize = num(a, argv[++i]);
    else if (a === '--minutes') args.soakMinutes = num(a, argv[++i]);
    else if (a === '--intents') args.killIntents = num(a, argv[++i]);
    else if (a in SCENARIOS) args.scenarios.push(a);
    else throw new Error(`unknown argument ${a}; scenarios: ${Object.keys(SCENARIOS).join(', ')}`);
  }
  if (!args.scenarios.length) args.scenarios = Object.keys(SCENARIOS);
  return args;
}

const log = (m: string) => process.stdout.write(`[chaos] ${m}\n`);

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  log(`scenarios: ${args.scenarios.join(', ')}; fuzz seed ${args.seed} (reproduce with --seed ${args.seed})`);
  // The gateway and the worker run with the environment of their k8s manifests (heap limit, malloc
  // arenas), as deployed.
  const axle = await AxleProcesses.create(
    { AXLE_JWT_SECRET: FUZZ_JWT_SECRET, AXLE_EXEC_ALLOW_NONE: 'true' },
    { appEnv: { gateway: k8sEnv('gateway'), worker: k8sEnv('worker') } },
  );
  // scripts/chaos.mjs forwards Ctrl-C as SIGTERM: stop the apps too, or they outlive their stack.
  for (const signal of ['SIGTERM', 'SIGINT'] as const)
    process.once(signal, () => void axle.stopAll().finally(() => process.exit(130)));
  const results: ScenarioResult[] = [];
  try {
    await axle.startAll(['gateway', 'worker', 'runner']);
    const ctx: ChaosContext = { axle, baseUrl: axle.baseUrl, args, log };
    for (const name of args.scenarios) {
      log(`── ${name}`);
      let r: ScenarioResult;
      try {
        r = await SCENARIOS[name]!(ctx);
      } catch (err) {
        r = {
          name,
          passed: false,
          what: 'the scenario itself failed',
          counts: [],
          findings: [String((err as Error).stack ?? err)],
          seconds: 0,
        };
      }
      results.push(r);
      log(`${name}: ${r.passed ? 'PASS' : 'FAIL'} (${r.seconds.toFixed(1)} s)`);
      for (const [k, v] of r.counts) log(`  ${k}: ${v}`);
      for (const f of r.findings) log(`  ! ${f}`);
    }
  } finally {
    await axle.stopAll();
  }
  writeReport(results, Object.keys(SCENARIOS), args.seed);
  log(`report written to ${REPORT}`);
  return results.every((r) => r.passed) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`chaos failed: ${String((err as Error).stack ?? err)}`);
    process.exit(1);
  },
);
