// Drives a running `mamba4j serve` with the official openai client for Node.
// Usage: node openai-client.test.mjs BASE_URL API_KEY   (run by ServeOpenAiClientTest, which starts the server)
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const model = (await client.models.list()).data[0].id;

test('models lists the served model', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].object, 'model');
});

test('completions: plain, with usage and finish_reason', async () => {
  const r = await client.completions.create({ model, prompt: 'It is a truth', max_tokens: 16, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].text.length, 16);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.deepEqual(r.usage, { prompt_tokens: 13, completion_tokens: 16, total_tokens: 29 });
});

test('completions: streaming gives the same text', async () => {
  const plain = await client.completions.create({ model, prompt: 'Once upon', max_tokens: 20, temperature: 0 });
  const stream = await client.completions.create({ model, prompt: 'Once upon', max_tokens: 20, temperature: 0, stream: true });
  let text = '', finish = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.text ?? '';
    finish = chunk.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(text, plain.choices[0].text);
  assert.equal(finish, 'length');
});

test('completions: a stop sequence ends the text before it', async () => {
  const full = (await client.completions.create({ model, prompt: 'Stop here', max_tokens: 40, temperature: 0 })).choices[0].text;
  const stop = full.slice(12, 14);
  const r = await client.completions.create({ model, prompt: 'Stop here', max_tokens: 40, temperature: 0, stop: [stop] });
  assert.equal(r.choices[0].text, full.slice(0, full.indexOf(stop)));
  assert.equal(r.choices[0].finish_reason, 'stop');
});

test('chat: plain and streaming', async () => {
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }];
  const r = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(r.choices[0].message.content.length, 12);
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, stream: true,
    stream_options: { include_usage: true } });
  let text = '', usage = null;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.equal(text, r.choices[0].message.content);
  assert.equal(usage.completion_tokens, 12);
});

test('errors: a bad field is a 400 naming it', async () => {
  await assert.rejects(client.completions.create({ model, prompt: 'x', max_tokens: 0 }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'max_tokens');
  await assert.rejects(client.completions.create({ model, prompt: 'x', temperature: 'hot' }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'temperature');
  await assert.rejects(client.chat.completions.create({ model, messages: [] }),
    (e) => e instanceof OpenAI.BadRequestError && e.param === 'messages');
});

test('errors: a wrong API key is a 401', async () => {
  const wrong = new OpenAI({ baseURL, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(wrong.completions.create({ model, prompt: 'x', max_tokens: 2 }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});
