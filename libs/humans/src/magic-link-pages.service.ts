import {
  type HumanTaskRecord,
  HumanTaskRepository,
  type IntentRecord,
  IntentRepository,
  type MagicLinkRecord,
  orgScope,
  platformScope,
} from '@axle/data';
import { ResumeIntentUseCase, type TaskResult, taskResultErrors } from '@axle/intents';
import {
  AxleError,
  type FieldError,
  humanTaskOutcomes,
  isTerminal,
  ValidationFailedError,
} from '@axle/protocol';
import { Injectable } from '@nestjs/common';
import { formFields, messagePage, taskPage } from './html';
import { hashMagicToken, looksLikeMagicToken } from './magic-link-token';

/** One answer in both forms: the HTML page for browsers, the JSON body for API clients. */
export type PageAnswer = { status: number; html: string; json: Record<string, unknown> };

type Context = { link: MagicLinkRecord; task: HumanTaskRecord; intent: IntentRecord };

/**
 * The email magic-link pages (SPEC §6). `GET /h/{token}` shows the task and never uses the token up
 * (mail scanners fetch links). `POST /h/{token}` checks the result exactly as resume does; a result
 * that breaks the task spec shows the form again with the errors (422) and leaves the token usable.
 * A valid one uses the token (atomically, once) and is decided through ResumeIntentUseCase as
 * `human:<recipient>`. Unknown or tampered tokens are 404, used or expired ones 410.
 */
@Injectable()
export class MagicLinkPages {
  constructor(
    private readonly tasks: HumanTaskRepository,
    private readonly intents: IntentRepository,
    private readonly resume: ResumeIntentUseCase,
  ) {}

  async view(token: string): Promise<PageAnswer> {
    const found = await this.context(token);
    if ('answer' in found) return found.answer;
    return {
      status: 200,
      html: this.form(token, found),
      json: {
        ok: true,
        task: {
          task_id: found.task.id,
          intent_id: found.intent.id,
          intent_type: found.intent.intentType,
          human_task: found.task.spec,
          allowed_outcomes: humanTaskOutcomes(found.task.spec),
          expires_at: found.link.expiresAt.toISOString(),
        },
      },
    };
  }

  async submit(token: string, body: unknown, requestId: string): Promise<PageAnswer> {
    const found = await this.context(token);
    if ('answer' in found) return found.answer;
    const { link, task, intent } = found;
    const values = formValues(body);
    const parsed = toTaskResult(body, task.spec);
    if ('errors' in parsed) return this.invalid(token, found, parsed.errors, values);
    const errors = taskResultErrors(task.spec, parsed.result);
    if (errors.length > 0) return this.invalid(token, found, errors, values);

    const consumed = await this.tasks.consumeMagicLink(platformScope(), hashMagicToken(token));
    if (consumed.state !== 'valid') return gone(consumed.state === 'used' ? 'used' : 'expired');
    try {
      const decided = await this.resume.decideAsHuman({
        orgId: link.orgId,
        taskId: task.id,
        email: link.recipient,
        taskResult: parsed.result,
        requestId,
      });
      const status = typeof decided.status === 'string' ? decided.status : null;
      return {
        status: 200,
        html: messagePage(
          'Thank you',
          `Your answer "${parsed.result.outcome}" is recorded. The intent is now ${status ?? 'updated'}.`,
        ),
        json: {
          ok: true,
          task_id: task.id,
          intent_id: intent.id,
          outcome: parsed.result.outcome,
          status,
        },
      };
    } catch (err) {
      // Nothing was decided: the link stays usable.
      await this.tasks.releaseMagicLink(orgScope(link.orgId), link.id);
      if (err instanceof ValidationFailedError) return this.invalid(token, found, err.fields, values);
      if (err instanceof AxleError && err.kind === 'conflict') return decidedAlready(err.code, err.message);
      throw err;
    }
  }

  private async context(token: string): Promise<Context | { answer: PageAnswer }> {
    if (!looksLikeMagicToken(token)) return { answer: unknownLink() };
    const state = await this.tasks.findMagicLink(platformScope(), hashMagicToken(token));
    if (state.state === 'unknown') return { answer: unknownLink() };
    if (state.state !== 'valid') return { answer: gone(state.state) };
    const scope = orgScope(state.link.orgId);
    const task = await this.tasks.findById(scope, state.link.taskId);
    const intent = task ? await this.intents.findById(scope, task.intentId) : null;
    if (!task || !intent) return { answer: unknownLink() };
    if (task.status !== 'open' || isTerminal(intent.status))
      return {
        answer: decidedAlready(
          'task_already_decided',
          task.status === 'decided'
            ? `This task was decided already (${task.outcome ?? 'no outcome'}).`
            : 'This task is closed: its intent has moved on.',
        ),
      };
    return { link: state.link, task, intent };
  }

  private form(token: string, ctx: Context, errors?: FieldError[], values?: Record<string, string>): string {
    const spec = ctx.task.spec;
    const formSchema =
      spec.form_schema && typeof spec.form_schema === 'object' && !Array.isArray(spec.form_schema)
        ? (spec.form_schema as Record<string, unknown>)
        : null;
    return taskPage({
      token,
      title: typeof spec.title === 'string' ? spec.title : ctx.intent.intentType,
      description: typeof spec.description === 'string' ? spec.description : null,
      intentType: ctx.intent.intentType,
      fromAgent: ctx.intent.fromAgent,
      payload: ctx.intent.payload,
      outcomes: humanTaskOutcomes(spec),
      requiredComment: spec.required_comment === true,
      evidenceRequired: spec.evidence_required === true,
      formSchema,
      expiresAt: ctx.link.expiresAt,
      ...(errors ? { errors } : {}),
      ...(values ? { values } : {}),
    });
  }

  private invalid(
    token: string,
    ctx: Context,
    errors: FieldError[],
    values: Record<string, string>,
  ): PageAnswer {
    const error = new ValidationFailedError(errors, 'invalid_task_result');
    return {
      status: 422,
      html: this.form(token, ctx, errors, values),
      json: errorBody(error.code, error.message, { errors }),
    };
  }
}

function errorBody(
  code: string,
  message: string,
  details?: Record<string, unknown>,
): Record<string, unknown> {
  return { ok: false, error: { code, message, ...(details ? { details } : {}) }, detail: message };
}

function unknownLink(): PageAnswer {
  const message = 'This link is not valid. Check that you copied all of it.';
  return {
    status: 404,
    html: messagePage('Link not found', message),
    json: errorBody('magic_link_not_found', message),
  };
}

function gone(state: 'used' | 'expired'): PageAnswer {
  const message =
    state === 'used'
      ? 'This link was already used: each link decides a task once.'
      : 'This link has expired. Ask for the task to be sent again.';
  return {
    status: 410,
    html: messagePage(state === 'used' ? 'Link already used' : 'Link expired', message),
    json: errorBody(state === 'used' ? 'magic_link_used' : 'magic_link_expired', message),
  };
}

function decidedAlready(code: string, message: string): PageAnswer {
  return { status: 409, html: messagePage('Already decided', message), json: errorBody(code, message) };
}

/** The submitted values as strings, to show the form again after a 422. */
function formValues(body: unknown): Record<string, string> {
  if (!body || typeof body !== 'object') return {};
  const values: Record<string, string> = {};
  for (const [key, value] of Object.entries(body as Record<string, unknown>))
    if (typeof value === 'string') values[key] = value;
    else if (typeof value === 'number' || typeof value === 'boolean') values[key] = String(value);
  return values;
}

/**
 * The task_result a page post (form fields as strings) or a JSON post stands for: `outcome`,
 * `comment` and `evidence` as sent; `data` from a JSON `data` object, the raw `data_json` textarea,
 * and the generated `field.<name>` controls (typed by form_schema), in that order of precedence.
 */
export function toTaskResult(
  body: unknown,
  spec: Record<string, unknown>,
): { result: TaskResult } | { errors: FieldError[] } {
  const errors: FieldError[] = [];
  const fail = (path: string, message: string, type: string) =>
    errors.push({ path, loc: ['body', path], message, type });
  const input =
    body && typeof body === 'object' && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const text = (key: string, max: number): string | undefined => {
    const value = input[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') {
      fail(key, 'must be a string', 'invalid_type');
      return undefined;
    }
    if (value.length > max) fail(key, `must be at most ${max} characters`, 'too_big');
    return value;
  };
  const outcome = text('outcome', 64);
  if (outcome === undefined && !errors.some((e) => e.path === 'outcome'))
    fail('outcome', 'choose an outcome', 'missing');
  const comment = text('comment', 2000);
  const evidence = text('evidence', 4000);
  const dataJson = text('data_json', 131_072);
  let data: Record<string, unknown> | undefined;
  if (input.data !== undefined) {
    if (input.data && typeof input.data === 'object' && !Array.isArray(input.data))
      data = { ...(input.data as Record<string, unknown>) };
    else fail('data', 'must be an object', 'invalid_type');
  }
  if (dataJson !== undefined && dataJson.trim() !== '') {
    try {
      const parsed: unknown = JSON.parse(dataJson);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
        data = { ...data, ...(parsed as Record<string, unknown>) };
      else fail('data_json', 'must be a JSON object', 'invalid_type');
    } catch {
      fail('data_json', 'is not valid JSON', 'invalid_json');
    }
  }
  const schema =
    spec.form_schema && typeof spec.form_schema === 'object' && !Array.isArray(spec.form_schema)
      ? (spec.form_schema as Record<string, unknown>)
      : null;
  for (const field of formFields(schema)) {
    const raw = input[`field.${field.name}`];
    if (field.kind === 'boolean') {
      if (raw !== undefined || !(data && field.name in data))
        (data ??= {})[field.name] = raw === 'true' || raw === 'on' || raw === true;
      continue;
    }
    if (raw === undefined || raw === '') continue;
    let value: unknown = raw;
    if (field.kind === 'enum')
      value =
        field.options.find((o) => JSON.stringify(o) === JSON.stringify(raw) || String(o) === raw) ?? raw;
    else if ((field.kind === 'number' || field.kind === 'integer') && typeof raw === 'string') {
      const n = Number(raw);
      value = Number.isFinite(n) ? n : raw;
    }
    (data ??= {})[field.name] = value;
  }
  if (schema && data === undefined) data = {};
  if (errors.length > 0 || outcome === undefined) return { errors };
  return {
    result: {
      outcome,
      ...(comment !== undefined ? { comment } : {}),
      ...(evidence !== undefined ? { evidence } : {}),
      ...(data !== undefined ? { data } : {}),
    },
  };
}
