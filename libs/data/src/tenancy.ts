/**
 * Every repository method that reads or writes tenant data takes a scope first, so a query without
 * the tenant does not compile. A platform scope (the bootstrap admin, SPEC §2) may act in any org and
 * is built only by the auth lib for platform-admin credentials.
 */
export type OrgScope = { readonly kind: 'org'; readonly orgId: string };
export type TenantScope = OrgScope | { readonly kind: 'platform' };

export function orgScope(orgId: string): OrgScope {
  return { kind: 'org', orgId };
}

export function platformScope(): TenantScope {
  return { kind: 'platform' };
}

/** The `where` fragment that confines a query to the scope. */
export function orgFilter(scope: TenantScope): { orgId?: string } {
  return scope.kind === 'org' ? { orgId: scope.orgId } : {};
}
