import { type Principal, tenantScopeOf } from '@axle/auth';
import { type IntentEventRecord, type IntentRecord, IntentRepository } from '@axle/data';
import { NotFoundError } from '@axle/protocol';
import { Injectable } from '@nestjs/common';

/** Reads of intents and their events, confined to what the caller may see. */
@Injectable()
export class IntentQueries {
  constructor(private readonly intents: IntentRepository) {}

  /** 404 for unknown ids and for intents of another org alike, so existence does not leak. */
  async get(principal: Principal, id: string): Promise<IntentRecord> {
    const intent = isUuid(id) ? await this.intents.findById(tenantScopeOf(principal), id) : null;
    if (!intent) throw new NotFoundError('intent_not_found', `intent ${id} not found`);
    return intent;
  }

  async events(principal: Principal, id: string, since: number, limit: number): Promise<IntentEventRecord[]> {
    await this.get(principal, id);
    return this.intents.listEvents(tenantScopeOf(principal), id, since, limit);
  }
}

export function isUuid(value: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value);
}
