export { AXLE_CONFIG, ConfigModule } from './config.module';
export { type AxleConfig, ConfigError, envSchema, loadConfig, loadConfigOrExit } from './config.schema';
