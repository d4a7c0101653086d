// Errors answered before a request reaches Nest (SPEC §1 error body and x-request-id on them too):
// - Fastify's router: a malformed percent-escape in the path (FST_ERR_BAD_URL) and a path parameter
//   over maxParamLength (FST_ERR_MAX_PARAM_LENGTH), through the `frameworkErrors` option;
// - Node's HTTP parser: headers too large (431), a bad Content-Length, Transfer-Encoding or request
//   line (400), a request that took too long (408), through the `clientErrorHandler` option, which
//   writes to the raw socket (there is no request object yet) and closes it;
// - an `Expect` header other than 100-continue: Node answers a bare 417 unless 'checkExpectation'
//   has a listener, which then answers instead.
import { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type Socket } from 'node:net';
import { errorBody, toErrorResponse } from './error-response';
import { generateRequestId } from './request-context';

type Answer = { status: number; code: string; message: string };

/** Fastify's router errors, answered with the SPEC §1 body. */
export function frameworkErrorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  const known: Record<string, Answer> = {
    FST_ERR_BAD_URL: {
      status: 400,
      code: 'malformed_url',
      message: 'the URL is not valid (bad percent-encoding)',
    },
    FST_ERR_MAX_PARAM_LENGTH: { status: 414, code: 'uri_too_long', message: 'a path parameter is too long' },
  };
  const answer = known[error.code];
  const response = answer
    ? { status: answer.status, body: errorBody(answer.code, answer.message), headers: {} }
    : toErrorResponse(error);
  void reply
    .status(response.status)
    .header('x-request-id', request.id)
    .headers(response.headers)
    .send(response.body);
}

/** What the parser's error code means to the client. */
function clientErrorAnswer(code: string): Answer {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'headers_too_large', message: 'the request headers are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'the request was not received in time' };
    case 'HPE_INVALID_CONTENT_LENGTH':
    case 'HPE_UNEXPECTED_CONTENT_LENGTH':
      return { status: 400, code: 'bad_content_length', message: 'the Content-Length header is not valid' };
    case 'HPE_INVALID_TRANSFER_ENCODING':
      return {
        status: 400,
        code: 'bad_transfer_encoding',
        message: 'the Transfer-Encoding header is not valid (or comes with Content-Length)',
      };
    case 'HPE_INVALID_METHOD':
      return { status: 400, code: 'bad_method', message: 'the request method is not valid' };
    default:
      return { status: 400, code: 'malformed_request', message: 'the request is not valid HTTP' };
  }
}

function rawResponse(answer: Answer, requestId: string): string {
  const json = JSON.stringify(errorBody(answer.code, answer.message));
  return (
    `HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\n` +
    `content-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(json)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    `connection: close\r\n\r\n${json}`
  );
}

/** Node's parser errors (there is no request yet): the SPEC §1 body on the raw socket, then close. */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has no one to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (socket.writable) socket.write(rawResponse(clientErrorAnswer(error.code ?? ''), generateRequestId()));
  socket.destroy();
}

/** `Expect` other than 100-continue: 417 with the SPEC §1 body instead of Node's empty one. */
export function answerExpectationFailures(server: Server): void {
  server.on('checkExpectation', (_request: IncomingMessage, response: ServerResponse) => {
    const json = JSON.stringify(errorBody('expectation_failed', 'only "Expect: 100-continue" is supported'));
    response.writeHead(417, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(json),
      'x-request-id': generateRequestId(),
      // The body the client held back may still come: do not parse it as the next request.
      connection: 'close',
    });
    response.end(json);
  });
}
