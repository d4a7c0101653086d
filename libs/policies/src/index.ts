export { evaluatePolicies, type PolicyRuleView, type PolicyVerdict } from './policy-evaluator';
export { PoliciesModule } from './policies.module';
export { type PolicyAuditContext, type PolicyCommand, PolicyService } from './policy.service';
export { toEntryView } from './policy.view';
