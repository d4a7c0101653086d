export { AXP_PARSE_ERROR, AxpRpcService, type RpcResponse } from './axp-rpc.service';
export { hashCapToken, newCapToken } from './cap-token';
export { type AttachFrame, type AttachSource, ExecJobService, toFrame } from './exec-job.service';
export { EXEC_REDIS } from './exec-redis';
export { ExecRunner } from './exec-runner';
export { type AuthorizedSession, type ExecCommand, ExecSessionService } from './exec-session.service';
export { clampLimits, codeArgv, sandboxSpecOf, type StoredJobSpec, workspaceRelative } from './exec-spec';
export { toExecJobView, toExecSessionView } from './exec.view';
export { ExecModule } from './exec.module';
export {
  LOG_ENTRY_MAX_BYTES,
  LogAppender,
  type LogAppenderOptions,
  type LogEntryToWrite,
} from './log-appender';
export { type ExecLogEntry, ExecLogStore } from './log-store';
export { RUNNER_REPORT_INTERVAL_MS, RunnerRegistry } from './runner-registry';
export { BUILTIN_TOOLS, planBuiltin, WRITE_FILE_MAX_BYTES } from './tools/builtins';
export {
  buildCatalog,
  type CatalogEntry,
  descriptionProblem,
  oneLineDescription,
  signatureOf,
  type ToolDefinition,
  type ToolProvider,
} from './tools/catalog';
export { ExecToolService, toolGranted } from './tools/exec-tool.service';
export { McpError, McpSession, type McpTool, withMcpSession } from './tools/mcp-client';
export { McpServerService, toMcpServerView } from './tools/mcp-server.service';
