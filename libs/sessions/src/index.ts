export { SessionsModule } from './sessions.module';
export { type SessionCommand, SessionService } from './session.service';
export { toSessionFeedEntryView, toSessionMessageView, toSessionView } from './session.view';
