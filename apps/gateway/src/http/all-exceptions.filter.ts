import { AXLE_LOGGER, type Logger } from '@axle/observability';
import { type ArgumentsHost, Catch, type ExceptionFilter, Inject } from '@nestjs/common';
import { type FastifyReply } from 'fastify';
import { toErrorResponse } from './error-response';

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  constructor(@Inject(AXLE_LOGGER) private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const reply = host.switchToHttp().getResponse<FastifyReply>();
    const response = toErrorResponse(exception);
    if (response.errorId)
      this.logger.error({ err: exception, error_id: response.errorId }, 'unhandled error');
    else if (response.status >= 500)
      this.logger.warn({ code: response.body.error }, 'dependency unavailable');
    // A stream that already started cannot change its status; end it instead.
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.end();
      return;
    }
    void reply.status(response.status).headers(response.headers).send(response.body);
  }
}
