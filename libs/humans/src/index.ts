export { escapeHtml, formFields, taskEmail, taskPage } from './html';
export { assigneesOf, HumanTaskService, recipientsOf } from './human-task.service';
export { HumansModule } from './humans.module';
export { Mailer, type MailMessage } from './mailer';
export { hashMagicToken, isEmail, looksLikeMagicToken, newMagicToken } from './magic-link-token';
export { MagicLinkPages, type PageAnswer, toTaskResult } from './magic-link-pages.service';
export { MyTasksService, toTaskView } from './my-tasks.service';
