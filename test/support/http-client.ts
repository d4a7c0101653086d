export type ApiResponse = { status: number; headers: Headers; body: Record<string, unknown>; text: string };

/** A thin fetch wrapper: JSON in and out, raw text kept for assertions on non-JSON answers. */
export function apiClient(baseUrl: string, key?: string) {
  return async (
    method: string,
    path: string,
    options: { body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
  ): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...(key ? { 'x-api-key': key } : {}), ...options.headers };
    let body: string | undefined;
    if (options.rawBody !== undefined) body = options.rawBody;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type'))
      headers['content-type'] = 'application/json';
    const res = await fetch(`${baseUrl}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    let parsed: Record<string, unknown> = {};
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      // not JSON (e.g. SSE)
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  };
}

export type SseFrame = { id: string | null; event: string; data: Record<string, unknown> };

/** Parses an SSE body the way the SDKs do: frames split by blank lines, `:` lines are comments. */
export function parseSse(text: string): SseFrame[] {
  return text.split('\n\n').flatMap((block) => parseSseFrame(block) ?? []);
}

/** One SSE frame (the lines between two blank lines), or null when it carries no data (a comment). */
export function parseSseFrame(block: string): SseFrame | null {
  let id: string | null = null;
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith(':') || line === '') continue;
    const [field, ...rest] = line.split(':');
    const value = rest.join(':').replace(/^ /, '');
    if (field === 'id') id = value;
    else if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length > 0 ? { id, event, data: JSON.parse(data.join('\n')) as Record<string, unknown> } : null;
}
