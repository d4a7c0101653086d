export { compileScenario, type Compiled, type CompileContext, MAX_STEP_RUNS } from './compile';
export { APPLY_ROUTE, type ScenarioCommand, ScenarioService } from './scenario.service';
export { ScenariosModule } from './scenarios.module';
