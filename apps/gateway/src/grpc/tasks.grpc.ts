import { MyTasksService } from '@axle/humans';
import { type UntypedServiceImplementation } from '@grpc/grpc-js';
import { Injectable } from '@nestjs/common';
import { GrpcCallGate } from './grpc-call';
import { given, type Json, text } from './grpc-fields';

type ListMyTasksRequest = { status: string; cursor: string; limit: number };

/** The `axle.v1.Tasks` service (libs/protocol/proto/axle/v1/tasks.proto): the caller's human tasks. */
@Injectable()
export class TasksGrpcService {
  constructor(
    private readonly gate: GrpcCallGate,
    private readonly myTasks: MyTasksService,
  ) {}

  handlers(): UntypedServiceImplementation {
    return {
      ListMyTasks: this.gate.unary('ListMyTasks', async (req: ListMyTasksRequest, { principal }) => {
        const page = await this.myTasks.list(principal, given({ ...req }));
        return {
          tasks: (page.tasks as Json[]).map((view) => ({
            task_id: text(view.task_id),
            intent_id: text(view.intent_id),
            intent_type: text(view.intent_type),
            status: text(view.status),
            allowed_outcomes: view.allowed_outcomes,
            due_at: text(view.due_at),
            view_json: JSON.stringify(view),
          })),
          next_cursor: page.next_cursor ?? '',
        };
      }),
    };
  }
}
