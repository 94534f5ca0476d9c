// tests/serve/openai.mjs: OpenAI's official client against `tinyllm serve`.
// Run by tests/test_serve_clients.c with BASE_URL (http://127.0.0.1:PORT),
// EXPECT_COMPLETION and EXPECT_CHAT (what `tinyllm run` printed for the same
// prompt, seed and sampling) and TINYLLM_NODE_PATH (where `openai` is
// installed). Prints one line per check; exits 1 at the first failure.
import { check, requirePackage } from './common.mjs';

const mod = requirePackage('openai');
const OpenAI = mod.OpenAI || mod.default || mod;

const client = new OpenAI({ baseURL: `${process.env.BASE_URL}/v1`, apiKey: 'unused', maxRetries: 0 });
const model = 'any-name';

const completionReq = { model, prompt: 'Once upon a time', max_tokens: 40, seed: 7, temperature: 0.8 };
const chatReq = { model, messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 40, seed: 9,
                  temperature: 0.8 };

const models = await client.models.list();
check(models.data.length === 1 && typeof models.data[0].id === 'string', 'models.list', models.data);

const c = await client.completions.create(completionReq);
check(c.choices[0].text === process.env.EXPECT_COMPLETION, 'completion equals run', c.choices[0].text);
check(c.usage.prompt_tokens > 0 && c.usage.completion_tokens === 40 &&
      c.usage.total_tokens === c.usage.prompt_tokens + 40, 'completion usage', c.usage);
check(c.choices[0].finish_reason === 'length', 'completion finish_reason', c.choices[0].finish_reason);

let text = '', finish = null;
for await (const chunk of await client.completions.create({ ...completionReq, stream: true })) {
  text += chunk.choices[0]?.text ?? '';
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
check(text === process.env.EXPECT_COMPLETION && finish === 'length', 'streamed completion equals run', text);

const chat = await client.chat.completions.create(chatReq);
check(chat.choices[0].message.role === 'assistant' &&
      chat.choices[0].message.content === process.env.EXPECT_CHAT, 'chat equals run --chat',
      chat.choices[0].message.content);
check(chat.usage.completion_tokens > 0 && chat.object === 'chat.completion', 'chat usage', chat.usage);

text = '';
let role = null, usage = null, chunks = 0;
finish = null;
const stream = await client.chat.completions.create({ ...chatReq, stream: true,
                                                      stream_options: { include_usage: true } });
for await (const chunk of stream) {
  chunks++;
  if (chunk.usage) usage = chunk.usage;
  const ch = chunk.choices[0];
  if (!ch) continue;
  role = role ?? ch.delta.role ?? null;
  text += ch.delta.content ?? '';
  finish = ch.finish_reason ?? finish;
}
check(role === 'assistant' && text === process.env.EXPECT_CHAT, 'streamed chat equals run --chat', text);
check(finish === chat.choices[0].finish_reason && usage &&
      usage.completion_tokens === chat.usage.completion_tokens, 'streamed chat finish and usage', { finish, usage });

const lp = await client.chat.completions.create({ ...chatReq, max_tokens: 5, temperature: 0, logprobs: true,
                                                  top_logprobs: 2 });
const entries = lp.choices[0].logprobs.content;
check(entries.length > 0 && entries.every(e => e.logprob <= 0 && e.top_logprobs.length === 2 &&
      Math.abs(e.top_logprobs[0].logprob - e.logprob) < 1e-6), 'chat logprobs (greedy takes the best)', entries);

const legacy = await client.completions.create({ ...completionReq, max_tokens: 3, logprobs: 2 });
const l = legacy.choices[0].logprobs;
check(l.tokens.length === 3 && l.token_logprobs.length === 3 && l.top_logprobs.length === 3 &&
      l.text_offset.length === 3, 'completion legacy logprobs', l);

async function expectError(req, kind, status, param) {
  try {
    await (kind === 'chat' ? client.chat.completions.create(req) : client.completions.create(req));
  } catch (e) {
    check(e.status === status && (param === undefined || e.param === param || e.error?.param === param),
          `error ${status} ${param ?? ''}`, { status: e.status, param: e.param, message: e.message });
    return;
  }
  check(false, `error ${status} ${param ?? ''}`, 'no error');
}
await expectError({ ...completionReq, n: 2 }, 'completion', 400, 'n');
await expectError({ ...chatReq, tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] },
                  'chat', 400, 'tools');
await expectError({ ...chatReq, temperature: 'warm' }, 'chat', 400, 'temperature');
await expectError({ ...completionReq, prompt: 'one two '.repeat(400) }, 'completion', 400, 'prompt');
console.log('done');
