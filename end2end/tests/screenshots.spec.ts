// The README's screenshots of each banner state. Skipped unless SCREENSHOTS=1:
//   SCREENSHOTS=1 npx playwright test screenshots
import * as path from 'node:path';
import { test, expect, waitForHydration, setFaults, startServer, logIn } from './fixtures';

const folder = path.resolve(__dirname, '..', 'screenshots');

test.skip(!process.env.SCREENSHOTS, 'set SCREENSHOTS=1 to refresh the README screenshots');
test.use({ viewport: { width: 1100, height: 420 } });

async function shoot(page: import('@playwright/test').Page, name: string) {
  await page.screenshot({ path: path.join(folder, `${name}.png`) });
}

test('banner states', async ({ page }) => {
  const live = await startServer('2026-11-30T10:00:00+05:30', [
    '--feed-stale-threshold',
    '2.5',
    '--feed-reconnect-delay',
    '0.3',
    '--feed-max-backoff',
    '1',
  ]);
  try {
    await page.goto(live.url);
    await waitForHydration(page);
    await expect(page.getByTestId('banner-title')).toHaveText('Login required');
    await shoot(page, 'login-required');

    await logIn(live);
    await page.goto(live.url);
    await waitForHydration(page);
    await expect(page.getByTestId('banner-title')).toHaveText('Market Live');
    await expect(page.getByTestId('price-row').first()).toHaveAttribute('data-freshness', 'live');
    await expect(page.getByTestId('last-price').first()).not.toHaveText('—');
    await shoot(page, 'live');
    await page.locator('summary', { hasText: 'Details' }).click();
    await shoot(page, 'details');
    await page.locator('summary', { hasText: 'Details' }).click();

    await setFaults(live, { stall: true });
    await expect(page.getByTestId('banner-title')).toHaveText('Reconnecting…', { timeout: 8_000 });
    await shoot(page, 'reconnecting');
    await setFaults(live, {});

    live.process.kill('SIGTERM');
    await expect(page.getByTestId('offline-notice')).toBeVisible({ timeout: 15_000 });
    await shoot(page, 'offline');
  } finally {
    live.process.kill('SIGTERM');
  }

  // Guru Nanak Jayanti, 2026-11-24.
  const holiday = await startServer('2026-11-24T11:00:00+05:30');
  try {
    await logIn(holiday);
    await page.goto(holiday.url);
    await waitForHydration(page);
    await shoot(page, 'holiday');
  } finally {
    holiday.process.kill('SIGTERM');
  }
});
