import { type Principal } from '@axle/auth';
import { AXLE_CONFIG, type AxleConfig } from '@axle/config';
import { type PolicyAuditContext, PolicyService, type PolicyVerdict } from '@axle/policies';
import {
  ForbiddenError,
  NotFoundError,
  parseAgentAddress,
  POLICY_DENY_CODES,
  ValidationFailedError,
} from '@axle/protocol';
import { Inject, Injectable } from '@nestjs/common';

/** A recipient that passed its policies: its canonical address and the verdict that let it through. */
export type ResolvedRecipient = {
  address: string;
  verdict: PolicyVerdict;
  /** A platform admin went past a deny or an escalate. */
  bypassed: boolean;
};

/**
 * Turns a recipient address into its canonical form, applying the send/receive policies (SPEC §2
 * "Policies", @axle/policies) and the addressing mode. A deny is a 403 with the policy's code, audited,
 * and nothing else happens; platform admins pass every policy and are audited for it.
 */
@Injectable()
export class RecipientResolver {
  constructor(
    @Inject(AXLE_CONFIG) private readonly config: AxleConfig,
    private readonly policies: PolicyService,
  ) {}

  /**
   * A new intent's recipient. Allow and escalate come back (the caller creates the intent, stores an
   * escalation and audits the decision with the intent's id); a deny is audited and thrown here.
   */
  async resolveSend(
    principal: Principal,
    text: string,
    context: { sender: string; requestId: string },
  ): Promise<ResolvedRecipient> {
    return this.check(principal, text, 'to_agent', context.sender, {
      principal,
      requestId: context.requestId,
      operation: 'send',
    });
  }

  /**
   * The new handler of a running intent (transfer, inbox delegate), or one a scenario will hand its
   * intent to (a later agent step, an escalation to an agent: checked at apply). The handover counts
   * as a send from the caller; an escalate cannot hold a handover for approval, so it is refused like
   * a deny. `registered`: the caller has checked the agent exists or will create it.
   */
  async resolve(
    principal: Principal,
    text: string,
    field: string,
    context: {
      requestId: string;
      operation: 'transfer' | 'delegate' | 'scenario_step';
      registered?: boolean;
    },
  ): Promise<string> {
    const { registered = false, ...rest } = context;
    const audit: PolicyAuditContext = { principal, ...rest };
    const resolved = await this.check(principal, text, field, principal.address, audit, registered);
    if (resolved.verdict.decision === 'escalate' && !resolved.bypassed) {
      await this.policies.recordDecision({ ...resolved.verdict, decision: 'deny' }, audit);
      throw new ForbiddenError(
        POLICY_DENY_CODES.denied,
        `${resolved.verdict.message}; a handover cannot wait for one, send a new intent instead`,
      );
    }
    await this.policies.recordDecision(resolved.verdict, { ...audit, bypassed: resolved.bypassed });
    return resolved.address;
  }

  private async check(
    principal: Principal,
    text: string,
    field: string,
    sender: string,
    audit: PolicyAuditContext,
    registered = false,
  ): Promise<ResolvedRecipient> {
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
    const verdict = await this.policies.evaluate(
      { address: sender, orgId: principal.orgId },
      address.canonical,
    );
    const bypassed = principal.platformAdmin && verdict.decision !== 'allow';
    if (verdict.decision === 'deny' && !bypassed) {
      await this.policies.recordDecision(verdict, audit);
      throw new ForbiddenError(verdict.code, verdict.message);
    }
    // Policies first: a closed org answers the same whether or not the agent exists there.
    if (!registered && !verdict.recipientRegistered && this.config.addressing === 'strict')
      throw new NotFoundError('agent_not_found', `agent ${address.canonical} not found`);
    return { address: address.canonical, verdict, bypassed };
  }
}
