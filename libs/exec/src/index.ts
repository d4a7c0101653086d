export { hashCapToken, newCapToken } from './cap-token';
export { type AttachFrame, type AttachSource, EXEC_REDIS, ExecJobService, toFrame } from './exec-job.service';
export { ExecRunner } from './exec-runner';
export { type AuthorizedSession, type ExecCommand, ExecSessionService } from './exec-session.service';
export { clampLimits, codeArgv, sandboxSpecOf, type StoredJobSpec, workspaceRelative } from './exec-spec';
export { toExecJobView, toExecSessionView } from './exec.view';
export { ExecModule } from './exec.module';
export { type ExecLogEntry, ExecLogStore } from './log-store';
