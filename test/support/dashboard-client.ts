import request from 'supertest';
import type TestAgent from 'supertest/lib/agent';

/** The CSRF token of the first form on a page. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error('no CSRF token on the page');
  return m[1];
}

/** A browser-like client (cookie jar) logged in to the dashboard; returns it with its CSRF token. */
export async function loggedInAgent(server: unknown, token: string): Promise<{ agent: TestAgent; csrf: string }> {
  const agent = request.agent(server as never);
  const form = await agent.get('/login').expect(200);
  await agent.post('/login').type('form').send({ _csrf: csrfOf(form.text), token, next: '/' }).expect(303);
  const page = await agent.get('/').expect(200);
  return { agent, csrf: csrfOf(page.text) };
}
