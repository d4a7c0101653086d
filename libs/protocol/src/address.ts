// Agent addresses (reference/axme-wire.md §4, SPEC §2): `agent://org/ws/name`, `agent://org/name`
// (workspace `default`) and bare `org/ws/name` are accepted; the canonical form is always returned.
import { ValidationFailedError } from './errors';

const SLUG = '[a-z0-9][a-z0-9-]{1,61}[a-z0-9]';
const NAME = '[a-z0-9](?:[a-z0-9._-]{0,61}[a-z0-9])?';
const CANONICAL = new RegExp(`^agent://(${SLUG})/(${SLUG})/(${NAME})$`);

export type AgentAddress = { org: string; workspace: string; name: string; canonical: string };

/** Returns null when the text is not an address in any accepted form. */
export function parseAgentAddress(text: string): AgentAddress | null {
  if (typeof text !== 'string' || text.length > 383) return null;
  const body = text.startsWith('agent://') ? text.slice('agent://'.length) : text;
  const parts = body.split('/');
  let segments: string[];
  if (parts.length === 3) segments = parts;
  else if (parts.length === 2 && text.startsWith('agent://'))
    segments = [parts[0] ?? '', 'default', parts[1] ?? ''];
  else return null;
  const canonical = `agent://${segments.join('/')}`;
  const match = CANONICAL.exec(canonical);
  if (!match) return null;
  return { org: match[1]!, workspace: match[2]!, name: match[3]!, canonical };
}

export function agentAddress(org: string, workspace: string, name: string): string {
  return `agent://${org}/${workspace}/${name}`;
}

/** Parses an address from a request, or answers 422 `invalid_agent_address` naming where it was. */
export function agentAddressOrThrow(
  text: string,
  field = 'address',
  where: 'path' | 'query' | 'body' = 'path',
): AgentAddress {
  const address = parseAgentAddress(text);
  if (address) return address;
  throw new ValidationFailedError(
    [{ path: field, loc: [where, field], message: 'invalid agent address', type: 'invalid_agent_address' }],
    'invalid_agent_address',
  );
}
