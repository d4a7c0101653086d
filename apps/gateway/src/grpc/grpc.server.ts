import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { AXLE_LOGGER, type Logger } from '@axle/observability';
import { GRPC_LOADER_OPTIONS, GRPC_PROTO_FILES, GRPC_PROTO_ROOT } from '@axle/protocol';
import {
  type GrpcObject,
  loadPackageDefinition,
  Server,
  ServerCredentials,
  type ServiceClientConstructor,
} from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { AgentsGrpcService } from './agents.grpc';
import { IntentsGrpcService } from './intents.grpc';
import { JobsGrpcService } from './jobs.grpc';
import { TasksGrpcService } from './tasks.grpc';

/** How long a shutdown waits for open calls (streams end at the drain) before cutting them. */
const SHUTDOWN_WAIT_MS = 5_000;

/** The gRPC face (SPEC §8) on AXLE_GRPC_PORT, beside the HTTP server in the gateway process. */
@Injectable()
export class GrpcServer implements OnModuleDestroy {
  private readonly server = new Server({ 'grpc.max_receive_message_length': 4 * 1024 * 1024 });

  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    @Inject(AXLE_LOGGER) private readonly logger: Logger,
    private readonly intents: IntentsGrpcService,
    private readonly agents: AgentsGrpcService,
    private readonly jobs: JobsGrpcService,
    private readonly tasks: TasksGrpcService,
  ) {}

  async listen(): Promise<number> {
    const definition = loadSync(GRPC_PROTO_FILES, {
      ...GRPC_LOADER_OPTIONS,
      includeDirs: [GRPC_PROTO_ROOT],
    });
    const v1 = (loadPackageDefinition(definition).axle as GrpcObject).v1 as GrpcObject;
    const services = { Intents: this.intents, Agents: this.agents, Jobs: this.jobs, Tasks: this.tasks };
    for (const [name, service] of Object.entries(services))
      this.server.addService((v1[name] as ServiceClientConstructor).service, service.handlers());
    const { host, grpcPort } = this.config.http;
    const port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(`${host}:${grpcPort}`, ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
    this.logger.info({ address: `${host}:${port}` }, 'gRPC listening');
    return port;
  }

  async onModuleDestroy(): Promise<void> {
    await new Promise<void>((resolve) => {
      const cut = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, SHUTDOWN_WAIT_MS);
      this.server.tryShutdown(() => {
        clearTimeout(cut);
        resolve();
      });
    });
  }
}
