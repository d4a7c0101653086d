// Server-rendered pages of the email magic links and the emails themselves. Minimal HTML, no
// scripts; every value that came from a task spec, a payload or a form is escaped.
import { type FieldError } from '@axle/protocol';

export function escapeHtml(value: unknown): string {
  let text = '';
  if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (value !== null && value !== undefined) text = JSON.stringify(value) ?? '';
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE =
  'body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}' +
  'label{display:block;margin:.8rem 0 .2rem;font-weight:600}input,select,textarea{width:100%;padding:.4rem;box-sizing:border-box}' +
  'input[type=checkbox]{width:auto}pre{background:#f4f4f4;padding:.6rem;overflow:auto;max-height:16rem}' +
  '.errors{background:#fde8e8;border:1px solid #f5a3a3;padding:.6rem}.outcomes button{margin:.8rem .4rem 0 0;padding:.5rem 1rem}';

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title><style>${STYLE}</style></head><body>${body}</body></html>`;
}

export function messagePage(title: string, message: string): string {
  return page(title, `<h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p>`);
}

type SchemaProperty = { type?: unknown; enum?: unknown; title?: unknown; description?: unknown };

/** The form controls generated from form_schema's top-level properties (simple types only). */
export type FormField = {
  name: string;
  label: string;
  description: string | null;
  kind: 'string' | 'number' | 'integer' | 'boolean' | 'enum';
  options: unknown[];
  required: boolean;
};

export function formFields(schema: Record<string, unknown> | null): FormField[] {
  if (!schema || typeof schema.properties !== 'object' || schema.properties === null) return [];
  const required = Array.isArray(schema.required) ? (schema.required as unknown[]) : [];
  const fields: FormField[] = [];
  for (const [name, raw] of Object.entries(schema.properties as Record<string, unknown>)) {
    if (!raw || typeof raw !== 'object') continue;
    const prop = raw as SchemaProperty;
    const base = {
      name,
      label: typeof prop.title === 'string' ? prop.title : name,
      description: typeof prop.description === 'string' ? prop.description : null,
      required: required.includes(name),
      options: [] as unknown[],
    };
    if (
      Array.isArray(prop.enum) &&
      prop.enum.every((v) => ['string', 'number', 'boolean'].includes(typeof v))
    )
      fields.push({ ...base, kind: 'enum', options: prop.enum });
    else if (
      prop.type === 'string' ||
      prop.type === 'number' ||
      prop.type === 'integer' ||
      prop.type === 'boolean'
    )
      fields.push({ ...base, kind: prop.type });
  }
  return fields;
}

export type TaskPageInput = {
  token: string;
  title: string;
  description: string | null;
  intentType: string;
  fromAgent: string;
  payload: unknown;
  outcomes: string[];
  requiredComment: boolean;
  evidenceRequired: boolean;
  formSchema: Record<string, unknown> | null;
  expiresAt: Date;
  errors?: FieldError[];
  /** What the person sent, shown again after a 422. */
  values?: Record<string, string>;
};

export function taskPage(input: TaskPageInput): string {
  const v = input.values ?? {};
  const value = (name: string) => escapeHtml(v[name] ?? '');
  const fields = formFields(input.formSchema);
  const coversSchema =
    input.formSchema !== null &&
    fields.length === Object.keys((input.formSchema.properties as object | undefined) ?? {}).length;
  const payload = JSON.stringify(input.payload ?? {}, null, 2) ?? '{}';
  const parts: string[] = [
    `<h1>${escapeHtml(input.title)}</h1>`,
    input.description ? `<p>${escapeHtml(input.description)}</p>` : '',
    `<p><small>${escapeHtml(input.intentType)} from ${escapeHtml(input.fromAgent)}; this link works once, until ${escapeHtml(input.expiresAt.toISOString())}.</small></p>`,
    `<details open><summary>Payload</summary><pre>${escapeHtml(payload.length > 8000 ? `${payload.slice(0, 8000)}\n…` : payload)}</pre></details>`,
  ];
  if (input.errors && input.errors.length > 0)
    parts.push(
      `<div class="errors" role="alert"><strong>Please correct:</strong><ul>${input.errors
        .map((e) => `<li><code>${escapeHtml(e.path)}</code>: ${escapeHtml(e.message)}</li>`)
        .join('')}</ul></div>`,
    );
  const form: string[] = [];
  for (const field of fields) {
    const id = `field.${field.name}`;
    const label = `<label for="${escapeHtml(id)}">${escapeHtml(field.label)}${field.required ? ' *' : ''}</label>`;
    const hint = field.description ? `<small>${escapeHtml(field.description)}</small>` : '';
    if (field.kind === 'boolean')
      form.push(
        `<label><input type="checkbox" id="${escapeHtml(id)}" name="${escapeHtml(id)}" value="true"${v[id] === 'true' ? ' checked' : ''}> ${escapeHtml(field.label)}</label>${hint}`,
      );
    else if (field.kind === 'enum')
      form.push(
        `${label}<select id="${escapeHtml(id)}" name="${escapeHtml(id)}"><option value=""></option>${field.options
          .map(
            (o) =>
              `<option value="${escapeHtml(o)}"${v[id] === String(o) ? ' selected' : ''}>${escapeHtml(o)}</option>`,
          )
          .join('')}</select>${hint}`,
      );
    else
      form.push(
        `${label}<input id="${escapeHtml(id)}" name="${escapeHtml(id)}" type="${field.kind === 'string' ? 'text' : 'number'}"${field.kind === 'integer' ? ' step="1"' : field.kind === 'number' ? ' step="any"' : ''} value="${value(id)}">${hint}`,
      );
  }
  if (input.formSchema && !coversSchema)
    form.push(
      `<label for="data_json">Data (JSON)</label><textarea id="data_json" name="data_json" rows="6">${value('data_json')}</textarea><small>Fields the form above does not show, as a JSON object.</small>`,
    );
  form.push(
    `<label for="comment">Comment${input.requiredComment ? ' *' : ''}</label><textarea id="comment" name="comment" rows="3">${value('comment')}</textarea>`,
  );
  form.push(
    `<label for="evidence">Evidence${input.evidenceRequired ? ' *' : ''}</label><input id="evidence" name="evidence" type="text" placeholder="a link or reference" value="${value('evidence')}">`,
  );
  form.push(
    `<div class="outcomes">${input.outcomes
      .map((o) => `<button type="submit" name="outcome" value="${escapeHtml(o)}">${escapeHtml(o)}</button>`)
      .join('')}</div>`,
  );
  parts.push(
    `<form method="post" action="/h/${escapeHtml(input.token)}" enctype="application/x-www-form-urlencoded">${form.join('')}</form>`,
  );
  return page(input.title, parts.join(''));
}

export type TaskEmailInput = {
  reason: 'assigned' | 'reminder' | 'escalation';
  title: string;
  description: string | null;
  intentType: string;
  link: string;
  expiresAt: Date;
  remindCount?: number;
};

export function taskEmail(input: TaskEmailInput): { subject: string; text: string; html: string } {
  const prefix =
    input.reason === 'reminder'
      ? `Reminder${input.remindCount ? ` ${input.remindCount}` : ''}: `
      : input.reason === 'escalation'
        ? 'Escalated: '
        : 'Task: ';
  const subject = `${prefix}${input.title}`.slice(0, 200);
  const intro =
    input.reason === 'reminder'
      ? 'This task is still waiting for you.'
      : input.reason === 'escalation'
        ? 'This task was escalated and still waits for a decision.'
        : 'A task waits for your decision.';
  const text = [
    intro,
    '',
    input.title,
    ...(input.description ? ['', input.description] : []),
    '',
    `Open the task (${input.intentType}):`,
    input.link,
    '',
    `The link works once and expires ${input.expiresAt.toISOString()}.`,
    '',
  ].join('\n');
  const html = `<p>${escapeHtml(intro)}</p><p><strong>${escapeHtml(input.title)}</strong></p>${
    input.description ? `<p>${escapeHtml(input.description)}</p>` : ''
  }<p><a href="${escapeHtml(input.link)}">Open the task</a> (${escapeHtml(input.intentType)})</p><p><small>The link works once and expires ${escapeHtml(input.expiresAt.toISOString())}.</small></p>`;
  return { subject, text, html };
}
