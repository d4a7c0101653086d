export { type HealthThresholds, healthFilter, heartbeatEvent, meshHealth } from './health';
export { MeshModule } from './mesh.module';
export { type MeshCommand, MeshService } from './mesh.service';
export { costInWindow, toMeshAgentView, toMeshEventView } from './mesh.view';
