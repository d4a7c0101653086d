// Who may change an intent (SPEC §3, reference §1.4 "policy grants"): its sender, its handler, an
// agent holding a `delegate:<address>` grant for the action, or a platform admin.
import { type Principal } from '@axle/auth';
export { actingAgent } from '@axle/auth';
import { type IntentRecord } from '@axle/data';
import { ConflictError, ForbiddenError, type GrantAction, isTerminal } from '@axle/protocol';

const PARTY_RIGHTS: Record<GrantAction, readonly ('sender' | 'handler' | 'recipient')[]> = {
  resume: ['sender', 'handler', 'recipient'],
  resolve: ['sender', 'handler'],
  transfer: ['sender', 'handler'],
  update_controls: ['sender'],
  update_policy: ['sender'],
};

export function assertMayAct(
  principal: Principal,
  intent: IntentRecord,
  actor: string,
  action: GrantAction,
): void {
  if (principal.platformAdmin) return;
  const parties = {
    sender: intent.fromAgent === actor,
    handler: (intent.handler ?? intent.toAgent) === actor,
    // A scenario hands its intent from step to step: only the current step's handler acts for it,
    // not the first step's agent that the intent was addressed to.
    recipient: intent.toAgent === actor && intent.scenarioId === null,
  };
  if (PARTY_RIGHTS[action].some((party) => parties[party])) return;
  if (intent.grants[`delegate:${actor}`]?.allow.includes(action)) return;
  throw new ForbiddenError('not_permitted', `${actor} may not ${action.replace('_', ' ')} this intent`);
}

export function assertNotTerminal(intent: IntentRecord): void {
  if (isTerminal(intent.status))
    throw new ConflictError('intent_terminal', `intent is ${intent.status}; a terminal intent is final`, {
      status: intent.status,
    });
}

/**
 * The Temporal update id of a write sent with an Idempotency-Key: Temporal applies an update id
 * once per workflow, so a retry is not applied twice. Scoped to the caller like the key itself,
 * so two callers' equal keys stay two updates.
 */
export function updateIdFor(
  kind: string,
  principal: Principal,
  idempotencyKey: string | undefined,
): string | undefined {
  return idempotencyKey === undefined ? undefined : `${kind}:${principal.actorId}:${idempotencyKey}`;
}
