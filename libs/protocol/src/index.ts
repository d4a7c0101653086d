export * from './address';
export * from './errors';
export * from './intents.schema';
export * from './jobs';
export * from './lifecycle';
export * from './streams';
export * from './temporal';
export * from './http';
