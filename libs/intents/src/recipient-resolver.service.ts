import { type Principal } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { orgScope, RegistryRepository } from '@axle/data';
import { ForbiddenError, NotFoundError, parseAgentAddress, ValidationFailedError } from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';

/** Turns a recipient address into its canonical form, applying addressing mode and org boundaries. */
@Injectable()
export class RecipientResolver {
  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly registry: RegistryRepository,
  ) {}

  async resolve(principal: Principal, text: string, field = 'to_agent'): Promise<string> {
    const address = parseAgentAddress(text);
    if (!address)
      throw new ValidationFailedError(
        [
          {
            path: field,
            loc: ['body', field],
            message: 'invalid agent address',
            type: 'invalid_agent_address',
          },
        ],
        'invalid_agent_address',
      );
    const org = await this.registry.findOrgBySlug(address.org);
    if (org && org.id !== principal.orgId && !principal.platformAdmin) {
      // Cross-org sends follow receive policies; the org default is closed (SPEC §2).
      throw new ForbiddenError(
        'receiver_org_closed',
        `organization ${address.org} does not accept intents from your organization`,
      );
    }
    const agent = org ? await this.registry.findAgentByAddress(orgScope(org.id), address.canonical) : null;
    if (!agent && this.config.addressing === 'strict')
      throw new NotFoundError('agent_not_found', `agent ${address.canonical} not found`);
    return address.canonical;
  }
}
