// tests/serve/llamacpp.mjs: llama.cpp's server API as its clients use it,
// with Node's own fetch: /completion plain and streamed (SSE `data: {...}`
// events, the last with stop true, no [DONE]), /tokenize, /detokenize.
// Environment as for openai.mjs (no packages needed).
import { check } from './common.mjs';

const base = process.env.BASE_URL;

async function post(path, body) {
  const r = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                       body: JSON.stringify(body) });
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
}

const req = { prompt: 'Once upon a time', n_predict: 40, seed: 7, temperature: 0.8 };
let r = await post('/completion', req);
const whole = JSON.parse(r.text);
check(r.status === 200 && whole.content === process.env.EXPECT_COMPLETION, 'completion equals run', whole.content);
check(whole.stop === true && whole.stop_type === 'limit' && whole.tokens_predicted === 40 &&
      whole.timings.predicted_n === 40 && whole.generation_settings.seed === 7, 'completion fields', whole);

r = await post('/completion', { ...req, stream: true });
check(r.status === 200 && r.type.startsWith('text/event-stream'), 'stream content type', r.type);
const events = r.text.split('\n\n');
check(events.pop() === '' && events.every(e => e.startsWith('data: ')), 'every event is data: ...\\n\\n', r.text);
check(!r.text.includes('[DONE]'), 'no [DONE]');
const parsed = events.map(e => JSON.parse(e.slice(6)));
const text = parsed.map(p => p.content).join('');
const last = parsed[parsed.length - 1];
check(text === process.env.EXPECT_COMPLETION && last.stop === true && parsed.slice(0, -1).every(p => !p.stop),
      'streamed completion equals run, stop only on the last', text);

r = await post('/tokenize', { content: 'Once upon a time', add_special: true });
const toks = JSON.parse(r.text).tokens;
check(r.status === 200 && Array.isArray(toks) && toks.length > 2, 'tokenize', r.text);
r = await post('/detokenize', { tokens: toks.slice(1) });
check(JSON.parse(r.text).content.trim() === 'Once upon a time', 'detokenize', r.text);

r = await post('/completion', { ...req, mirostat: 2 });
check(r.status === 400 && JSON.parse(r.text).error.message.includes('mirostat'), 'mirostat refused', r.text);
console.log('done');
