export { AXLE_CONFIG, ConfigModule } from './config.module';
export {
  type AxleConfig,
  type CidrNetwork,
  ConfigError,
  envSchema,
  loadConfig,
  loadConfigOrExit,
  parseCidr,
} from './config.schema';
