import { Global, Module } from '@nestjs/common';
import { type Logger } from 'pino';

export const AXLE_LOGGER = Symbol('AXLE_LOGGER');

@Global()
@Module({})
export class ObservabilityModule {
  static forRoot(logger: Logger) {
    return {
      module: ObservabilityModule,
      providers: [{ provide: AXLE_LOGGER, useValue: logger }],
      exports: [AXLE_LOGGER],
    };
  }
}
