export {
  availableTiers,
  probeSandboxHost,
  type SandboxExit,
  type SandboxHost,
  type SandboxOptions,
  type SandboxProcess,
  sandboxOwner,
  spawnSandboxed,
  TierUnavailableError,
} from './sandbox';
