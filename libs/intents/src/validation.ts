// Moved to the protocol lib so that libs the intents lib depends on (policies) parse the same way.
export { parseOrThrow } from '@axle/protocol';
