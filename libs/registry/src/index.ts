export { RegistryModule } from './registry.module';
export { type RegistryCommand, RegistryService } from './registry.service';
