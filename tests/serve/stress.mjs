// tests/serve/stress.mjs: many clients at once against `tinyllm serve`.
// Run by tests/test_serve_clients.c with BASE_URL and SERVER_PID (the
// server's pid, for its RSS). Two rounds of ROUNDS_N requests (default 200)
// from 16 concurrent clients over a mix of routes: the three APIs, streaming
// and not, clients that hang up mid-stream, and malformed requests (raw
// bytes, bad JSON, wrong types, unknown routes, oversized headers). Every
// well-formed request must get its complete answer, every malformed one its
// 4xx, the server must still answer afterwards, and its RSS after the second
// round must be where it was after the first (nothing leaks per request).
import net from 'node:net';

const base = process.env.BASE_URL;
const pid = process.env.SERVER_PID;
const perRound = Number(process.env.ROUNDS_N || 200);
const clients = 16;
const { hostname, port } = new URL(base);

function fail(what, detail) {
  console.log(`FAIL ${what}: ${detail === undefined ? '' : JSON.stringify(detail).slice(0, 400)}`);
  process.exit(1);
}
function check(cond, what, detail) {
  if (!cond) fail(what, detail);
  console.log(`ok ${what}`);
}

const post = (path, body) => fetch(base + path, {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
});

// SSE events' data fields, in order.
function sseData(text) {
  return text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6));
}

// A raw request on its own connection; resolves to the status code of the
// answer (0 when the server closed without one).
function raw(bytes) {
  return new Promise((resolve) => {
    const s = net.connect(Number(port), hostname);
    let got = '';
    s.on('data', (d) => { got += d.toString('latin1'); });
    s.on('error', () => {});
    s.on('close', () => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(got);
      resolve(m ? Number(m[1]) : 0);
    });
    s.end(bytes);
  });
}

const msgs = [{ role: 'user', content: 'Tell me a story' }];
// Each kind: a request, and what makes its answer complete.
const kinds = {
  async chat() {
    const r = await post('/v1/chat/completions', { messages: msgs, max_tokens: 12, seed: 1 });
    const j = await r.json();
    return r.status === 200 && typeof j.choices[0].message.content === 'string' &&
           ['stop', 'length'].includes(j.choices[0].finish_reason) && j.usage.completion_tokens > 0;
  },
  async chatStream() {
    const r = await post('/v1/chat/completions', { messages: msgs, max_tokens: 12, stream: true });
    const d = sseData(await r.text());
    return r.status === 200 && d.at(-1) === '[DONE]' &&
           JSON.parse(d.at(-2)).choices[0].finish_reason !== null;
  },
  async completions() {
    const r = await post('/v1/completions', { prompt: 'Once upon a time', max_tokens: 12 });
    const j = await r.json();
    return r.status === 200 && typeof j.choices[0].text === 'string' && j.usage.completion_tokens > 0;
  },
  async llamaStream() {
    const r = await post('/completion', { prompt: 'Once', n_predict: 12, stream: true });
    const d = sseData(await r.text());
    return r.status === 200 && d.length > 0 && JSON.parse(d.at(-1)).stop === true;
  },
  async ollamaGenerate() {
    const r = await post('/api/generate', { model: 'm', prompt: 'Once', options: { num_predict: 12 } });
    const lines = (await r.text()).trim().split('\n').map((l) => JSON.parse(l));
    return r.status === 200 && lines.at(-1).done === true && lines.at(-1).eval_count > 0;
  },
  async ollamaChat() {
    const r = await post('/api/chat', { model: 'm', messages: msgs, stream: false, options: { num_predict: 12 } });
    const j = await r.json();
    return r.status === 200 && j.done === true && typeof j.message.content === 'string';
  },
  async lists() {
    const rs = await Promise.all(['/v1/models', '/health', '/metrics', '/api/tags'].map((p) => fetch(base + p)));
    const bodies = await Promise.all(rs.map((r) => r.text()));
    return rs.every((r) => r.status === 200) && bodies[2].includes('tinyllm');
  },
  async tokenize() {
    const r = await post('/tokenize', { content: 'Once upon a time' });
    const j = await r.json();
    return r.status === 200 && Array.isArray(j.tokens) && j.tokens.length > 0;
  },
  // Hangs up after the first piece of a long stream: the server must stop
  // generating and serve the rest.
  async hangUp() {
    const r = await post('/v1/chat/completions', { messages: msgs, max_tokens: 400, stream: true });
    const reader = r.body.getReader();
    await reader.read();
    await reader.cancel();
    return r.status === 200;
  },
  async badJson() {
    const r = await fetch(base + '/v1/chat/completions', { method: 'POST', body: '{"messages": [' });
    await r.text();
    return r.status === 400;
  },
  async badType() {
    const r = await post('/v1/completions', { prompt: 'x', max_tokens: 'many' });
    await r.text();
    return r.status === 400;
  },
  async notFound() {
    const r = await fetch(base + '/v2/nothing');
    await r.text();
    return r.status === 404;
  },
  async garbage() {
    const st = await raw('\x16\x03\x01 hello\r\n\r\n');
    return st === 400;
  },
  async hugeHeader() {
    const st = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70000)}\r\n\r\n`);
    return st === 431 || st === 400;
  },
};
const names = Object.keys(kinds);

async function round(n) {
  let next = 0;
  const failures = [];
  const counts = {};
  async function client() {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const kind = names[(i * 7) % names.length];
      counts[kind] = (counts[kind] || 0) + 1;
      let ok = false;
      try {
        ok = await kinds[kind]();
      } catch (e) {
        failures.push(`${kind}: ${e.message}`);
        continue;
      }
      if (!ok) failures.push(kind);
    }
  }
  await Promise.all(Array.from({ length: clients }, client));
  return { failures, counts };
}

const fs = await import('node:fs');
const rss = () => (pid ? Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) : 0);

const r1 = await round(perRound);
check(r1.failures.length === 0, `round 1: ${perRound} requests from ${clients} clients, every answer as expected`,
      { failures: r1.failures, counts: r1.counts });
const rssA = rss();
const r2 = await round(perRound);
check(r2.failures.length === 0, `round 2: ${perRound} more`, { failures: r2.failures });
const rssB = rss();
const h = await fetch(base + '/health');
check(h.status === 200, 'the server still answers');
if (pid) check(rssB - rssA < 4096, `RSS flat across the second round (${rssA} -> ${rssB} KiB)`, { rssA, rssB });
console.log('done');
