export {
  availableTiers,
  type SandboxExit,
  type SandboxProcess,
  spawnSandboxed,
  TierUnavailableError,
} from './sandbox';
