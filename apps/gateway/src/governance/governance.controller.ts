import { AuditQueryService, type Principal, QuotaService } from '@axle/auth';
import { auditEventsQuerySchema, listQuotasQuerySchema, parseOrThrow, putQuotaSchema } from '@axle/protocol';
import { Body, Controller, Delete, Get, Param, Put, Query, Req } from '@nestjs/common';
import { type FastifyRequest } from 'fastify';
import { NoRequestQuota } from '../http/quota.guard';
import { CurrentPrincipal } from '../http/request-context';

/** `GET /v1/audit/events` (docs/audit-and-limits.md): operators and admins. */
@Controller('v1/audit')
export class AuditController {
  constructor(private readonly audit: AuditQueryService) {}

  @Get('events')
  async events(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    return this.audit.list(principal, parseOrThrow(auditEventsQuerySchema, query, 'query'));
  }
}

/** `GET/PUT /v1/quotas`, `DELETE /v1/quotas/{id}` (docs/audit-and-limits.md). */
@Controller('v1/quotas')
@NoRequestQuota()
export class QuotasController {
  constructor(private readonly quotas: QuotaService) {}

  @Get()
  async list(@CurrentPrincipal() principal: Principal, @Query() query: unknown) {
    const { org_id } = parseOrThrow(listQuotasQuerySchema, query, 'query');
    return this.quotas.list(principal, org_id);
  }

  @Put()
  async put(@CurrentPrincipal() principal: Principal, @Body() body: unknown, @Req() request: FastifyRequest) {
    return this.quotas.put(principal, parseOrThrow(putQuotaSchema, body), request.id);
  }

  @Delete(':id')
  async remove(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Req() request: FastifyRequest,
  ) {
    return this.quotas.remove(principal, id, request.id);
  }
}
