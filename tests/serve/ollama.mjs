// tests/serve/ollama.mjs: Ollama's official JavaScript client against
// `tinyllm serve` (NDJSON streams, options, tags, show, ps, errors). The
// environment as for openai.mjs; EXPECT_COMPLETION is what `run` printed
// for the raw prompt, EXPECT_CHAT what `run --chat` printed.
import { check, requirePackage } from './common.mjs';

const mod = requirePackage('ollama');
const Ollama = mod.Ollama || mod.default?.Ollama;

const ollama = new Ollama({ host: process.env.BASE_URL });
const model = 'any-name';

const genReq = { model, prompt: 'Once upon a time', raw: true,
                 options: { num_predict: 40, seed: 7, temperature: 0.8 } };
const chatReq = { model, messages: [{ role: 'user', content: 'Tell me a story' }],
                  options: { num_predict: 40, seed: 9, temperature: 0.8 } };

const g = await ollama.generate({ ...genReq, stream: false });
check(g.response === process.env.EXPECT_COMPLETION, 'generate equals run', g.response);
check(g.done === true && g.done_reason === 'length' && g.eval_count === 40 && g.prompt_eval_count > 0 &&
      g.eval_duration > 0 && g.total_duration >= g.eval_duration, 'generate counts and durations', g);

let text = '', last = null, parts = 0;
for await (const part of await ollama.generate({ ...genReq, stream: true })) {
  parts++;
  text += part.response;
  last = part;
}
check(text === process.env.EXPECT_COMPLETION && parts > 2 && last.done && last.done_reason === 'length',
      'streamed generate equals run', { text, parts });

const c = await ollama.chat({ ...chatReq, stream: false });
check(c.message.role === 'assistant' && c.message.content === process.env.EXPECT_CHAT, 'chat equals run --chat',
      c.message.content);

text = '';
for await (const part of await ollama.chat({ ...chatReq, stream: true })) {
  text += part.message.content;
  last = part;
}
check(text === process.env.EXPECT_CHAT && last.done, 'streamed chat equals run --chat', text);

const tags = await ollama.list();
check(tags.models.length === 1 && tags.models[0].details.format === 'gguf', 'list', tags);
const show = await ollama.show({ model });
check(show.details.family && show.model_info['general.architecture'], 'show', show);
const ps = await ollama.ps();
check(ps.models.length === 1, 'ps', ps);

async function expectError(req, what) {
  try {
    await ollama.generate(req);
  } catch (e) {
    check(e.status_code === 400 && /format|num_ctx/.test(e.error ?? e.message), what,
          { status: e.status_code, error: e.error });
    return;
  }
  check(false, what, 'no error');
}
await expectError({ ...genReq, stream: false, format: 'json' }, 'format refused');
await expectError({ ...genReq, stream: false, options: { num_ctx: 1 << 20 } }, 'num_ctx above the server refused');
console.log('done');
