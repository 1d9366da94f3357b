// The scan every test ends with (see `transcript` in fixtures.ts) must know a secret when it
// sees one, and must be fed what the browser receives.
import * as fs from 'node:fs';
import { expect, secretsIn, test } from './fixtures';

test('the scan recognises the access token the server saved, and nothing forged', async ({
  server,
}) => {
  const saved = fs.readFileSync(server.envFile, 'utf8');
  const token = saved.match(/^ZERODHA_ACCESS_TOKEN=(\w+)$/m)![1];
  expect(secretsIn(`access_token=${token}`)).toEqual(['an access token']);
  expect(secretsIn('ZERODHA_API_SECRET=marketwarden_sim_secret')).toEqual(['the API secret']);
  const forged = `${token.slice(0, 20)}${'0'.repeat(12)}`;
  expect(secretsIn(forged)).toEqual([]);
});

test('what the browser receives is scanned', async ({ page, server, transcript }) => {
  await page.goto(server.url);
  await expect(page.getByTestId('status-banner')).toBeVisible();
  await expect.poll(() => transcript.some((text) => text.includes('status-banner'))).toBe(true);
});
