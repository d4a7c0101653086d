export { Egress, type EgressPolicy, EgressRefusedError, type EgressResponse } from './egress';
