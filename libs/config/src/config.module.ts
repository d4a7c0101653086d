import { Global, Module } from '@nestjs/common';
import { type AxleConfig, loadConfig } from './config.schema';

/** Injection token for the validated configuration object. */
export const AXLE_CONFIG = Symbol('AXLE_CONFIG');

@Global()
@Module({})
export class ConfigModule {
  /** Registers an already validated config (apps validate before Nest starts, tests pass their own). */
  static forRoot(config: AxleConfig = loadConfig()) {
    return {
      module: ConfigModule,
      providers: [{ provide: AXLE_CONFIG, useValue: config }],
      exports: [AXLE_CONFIG],
    };
  }
}
