export { type AxleApp, AxleProcesses, runToExit } from './axle-processes';
export { freePort, requireEnv, TEST_ADMIN_ADDRESS, TEST_ADMIN_KEY } from './env';
export { type ApiResponse, apiClient, parseSse, parseSseFrame, type SseFrame } from './http-client';
export { createTestOrg, registerTestAgent, type TestAgent, type TestOrg } from './agents';
export { PrivateStack, type ServiceName } from './private-stack';
export {
  generateSigningKey,
  signedHeaders,
  type SigningKeyPair,
  signRequest,
  type SignRequestOptions,
} from './signing';
export { magicLinkOf, type SinkMessage, SmtpSink } from './smtp-sink';
export { gatewayRouteKeys, gatewayRoutes, type Route } from './gateway-routes';
export { until } from './until';
export { recordHistory } from './histories';
export { startWorkflowWorker, type WorkflowWorker } from './workflow-worker';
export { HttpSink, type SinkRequest } from './http-sink';
export {
  type AgentsGrpcClient,
  axleGrpcClients,
  type GrpcFailure,
  grpcMetadata,
  type IntentsGrpcClient,
  type JobsGrpcClient,
} from './grpc-client';
