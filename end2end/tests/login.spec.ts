// The Kite login from the banner: one click, the broker's login page, back to the dashboard.
import * as fs from 'node:fs';
import { test, expect, waitForHydration } from './fixtures';

test.use({ clockStart: '2026-11-30T10:00:00+05:30', loggedIn: false });

function savedToken(envFile: string): string | undefined {
  const text = fs.existsSync(envFile) ? fs.readFileSync(envFile, 'utf8') : '';
  return text.match(/^ZERODHA_ACCESS_TOKEN=(\S+)$/m)?.[1];
}

test('without a token the banner asks for a login, and one click through Kite fixes it', async ({
  page,
  context,
  server,
}) => {
  await page.goto(server.url);
  await waitForHydration(page);
  const banner = page.getByTestId('status-banner');
  await expect(banner).toHaveClass(/auth-required/);
  await expect(page.getByTestId('banner-title')).toHaveText('Login required');
  await expect(page.getByTestId('banner-description')).toHaveText(/Kite login required/);
  await expect(banner).toHaveAttribute('role', 'alert');
  await expect(page.getByTestId('market-line')).toHaveText(/^Market Live — /);
  const login = page.getByTestId('login-button');
  await expect(login).toHaveText('Log in to Kite');

  await login.click();
  await expect(page).toHaveTitle(/Kite simulator/);
  await page.getByRole('button', { name: 'Log in' }).click();

  await expect(page).toHaveURL(`${server.url}/`);
  await waitForHydration(page);
  await expect(page.getByTestId('login-button')).toHaveCount(0);
  await expect(page.getByTestId('status-banner')).not.toHaveClass(/auth-required/);
  await expect(page.getByTestId('banner-title')).toHaveText('Market Live');
  await expect(page.getByTestId('status-banner')).toHaveAttribute('role', 'status');

  // The token is saved, and never reaches the browser.
  const token = savedToken(server.envFile);
  expect(token).toMatch(/^[0-9a-f]{32}$/);
  expect(await page.content()).not.toContain(token!);
  const cookies = await context.cookies();
  expect(JSON.stringify(cookies)).not.toContain(token!);
  const auth = await (await page.request.get(`${server.url}/api/system/health/auth`)).text();
  expect(auth).toContain('"state":"valid"');
  expect(auth).not.toContain(token!);
});

test('a login cancelled at Kite says so and changes nothing', async ({ page, server }) => {
  await page.goto(server.url);
  await page.getByTestId('login-button').click();
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByTestId('login-failed')).toContainText('failed or was cancelled');
  await page.getByRole('link', { name: 'Back to the dashboard' }).click();
  await waitForHydration(page);
  await expect(page.getByTestId('login-button')).toBeVisible();
  expect(savedToken(server.envFile)).toBeUndefined();
});

test('a forged callback is refused with a clear page', async ({ page, server }) => {
  const answer = await page.goto(`${server.url}/auth/callback?request_token=abc&state=forged`);
  expect(answer?.status()).toBe(400);
  await expect(page.getByTestId('login-failed')).toContainText('not one marketwarden issued');
  expect(savedToken(server.envFile)).toBeUndefined();
});
