import { EventStreamService } from '@axle/intents';
import { type UntypedServiceImplementation } from '@grpc/grpc-js';
import { Injectable } from '@nestjs/common';
import { GrpcCallGate } from './grpc-call';
import { pipeSource } from './grpc-stream';
import { intentMessage } from './intents.grpc';

type ListenRequest = { address: string; since: number; status: string };

/** The `axle.v1.Agents` service (libs/protocol/proto/axle/v1/agents.proto): an agent's deliveries. */
@Injectable()
export class AgentsGrpcService {
  constructor(
    private readonly gate: GrpcCallGate,
    private readonly streams: EventStreamService,
  ) {}

  handlers(): UntypedServiceImplementation {
    return {
      Listen: this.gate.serverStream('Listen', async (req: ListenRequest, { principal }, stream) => {
        const source = this.streams.agentStream(principal, req.address, req.status || undefined);
        await pipeSource(this.streams.bus, source, req.since, stream, (frame) => {
          const { seq, event_seq, event_type, ...intent } = frame.data;
          return { seq, event_seq, event_type, intent: intentMessage(intent) };
        });
      }),
    };
  }
}
