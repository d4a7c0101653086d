// Anchor for the SSE fan-out: a bare node:http SSE server in its own process. GET /stream holds a
// stream; POST /emit writes one frame {seq, at} to every open stream and answers once written.
// Prints its port on stdout.
import http from 'node:http';

const streams = new Set();
let seq = 0;
const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url.startsWith('/stream')) {
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(': open\n\n');
    streams.add(res);
    req.on('close', () => streams.delete(res));
    return;
  }
  if (req.method === 'POST' && req.url === '/emit') {
    seq++;
    const frame = `id: ${seq}\nevent: bench.tick\ndata: ${JSON.stringify({ seq, at: Date.now() })}\n\n`;
    for (const s of streams) s.write(frame);
    res.end(JSON.stringify({ ok: true, seq, streams: streams.size }));
    return;
  }
  res.writeHead(404).end();
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
