// Wire shapes of registry objects (reference/axme-wire.md §1.3): snake_case, ISO times, no secrets.
import {
  type ApiKeyView,
  type MemberRecord,
  type OrganizationRecord,
  type ServiceAccountRecord,
  type WorkspaceRecord,
} from '@axle/data';
import { parseAgentAddress } from '@axle/protocol';

type Body = Record<string, unknown>;

export function organizationView(org: OrganizationRecord): Body {
  return {
    org_id: org.id,
    slug: org.slug,
    name: org.name,
    status: org.status,
    receive_policy: org.receivePolicy,
    created_at: org.createdAt.toISOString(),
    updated_at: org.updatedAt.toISOString(),
  };
}

export function workspaceView(ws: WorkspaceRecord, org: { slug: string }): Body {
  return {
    workspace_id: ws.id,
    org_id: ws.orgId,
    org_slug: org.slug,
    slug: ws.slug,
    name: ws.name,
    created_at: ws.createdAt.toISOString(),
  };
}

export function memberView(member: MemberRecord): Body {
  return {
    member_id: member.id,
    org_id: member.orgId,
    email: member.email,
    display_name: member.displayName,
    role: member.role,
    address: member.address,
    status: member.status,
    created_at: member.createdAt.toISOString(),
    updated_at: member.updatedAt.toISOString(),
  };
}

export function serviceAccountView(sa: ServiceAccountRecord, orgSlug?: string, workspaceSlug?: string): Body {
  const address = parseAgentAddress(sa.address);
  return {
    service_account_id: sa.id,
    org_id: sa.orgId,
    org_slug: orgSlug ?? address?.org ?? null,
    workspace_id: sa.workspaceId,
    workspace_slug: workspaceSlug ?? address?.workspace ?? null,
    name: sa.name,
    agent_address: sa.address,
    display_name: sa.displayName,
    description: sa.description,
    delivery_mode: sa.deliveryMode,
    callback_url: sa.callbackUrl,
    has_webhook_secret: sa.hasWebhookSecret,
    role: sa.role,
    status: sa.status,
    rate_limit_per_minute: sa.rateLimitPerMinute,
    created_at: sa.createdAt.toISOString(),
    updated_at: sa.updatedAt.toISOString(),
  };
}

/** GET /v1/agents shape: the fields the SDKs read, plus delivery settings. */
export function agentView(sa: ServiceAccountRecord): Body {
  return {
    address: sa.address,
    service_account_id: sa.id,
    service_account_name: sa.name,
    display_name: sa.displayName,
    description: sa.description,
    status: sa.status,
    delivery_mode: sa.deliveryMode,
    callback_url: sa.callbackUrl,
    created_at: sa.createdAt.toISOString(),
  };
}

export function apiKeyView(key: ApiKeyView): Body {
  return {
    key_id: key.id,
    service_account_id: key.serviceAccountId,
    name: key.name,
    hint: key.hint,
    status: key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt <= new Date() ? 'expired' : 'active',
    created_at: key.createdAt.toISOString(),
    expires_at: key.expiresAt?.toISOString() ?? null,
    revoked_at: key.revokedAt?.toISOString() ?? null,
    last_used_at: key.lastUsedAt?.toISOString() ?? null,
  };
}
