// A feed that goes silent in LIVE: the banner says "Reconnecting…" within about a second of the
// server noticing, and comes back to LIVE by itself when the data flows again — no reload.
import { test, expect, waitForHydration, setFaults } from './fixtures';

test.use({
  clockStart: '2026-11-30T10:00:00+05:30',
  // The embedded simulator sends a frame a second: a 2.5 s threshold, quick retries.
  serverArgs: ['--feed-stale-threshold', '2.5', '--feed-reconnect-delay', '0.3', '--feed-max-backoff', '1'],
});

test('a stall in LIVE shows Reconnecting… and recovers without a reload', async ({ page, server }) => {
  await page.goto(server.url);
  await waitForHydration(page);
  const banner = page.getByTestId('status-banner');
  await expect(banner).toHaveAttribute('data-priority', 'MARKET_SESSION');
  await expect(page.getByTestId('banner-title')).toHaveText('Market Live');
  // Prices flow on the dashboard.
  const nifty = page.getByTestId('price-row').first();
  await expect(nifty).toHaveAttribute('data-freshness', 'live');
  await expect(nifty.getByTestId('last-price')).not.toHaveText('—');

  await setFaults(server, { stall: true });
  await expect(page.getByTestId('banner-title')).toHaveText('Reconnecting…', { timeout: 8_000 });
  await expect(banner).toHaveClass(/feed-down/);
  await expect(banner).toHaveAttribute('role', 'alert');
  await expect(page.locator('.status-icon.spinning')).toBeVisible();
  await expect(page.getByTestId('market-line')).toHaveText(/^Market Live — /);
  await expect(nifty).toHaveAttribute('data-freshness', 'stale', { timeout: 8_000 });

  await setFaults(server, {});
  await expect(page.getByTestId('banner-title')).toHaveText('Market Live', { timeout: 8_000 });
  await expect(banner).not.toHaveClass(/feed-down/);
  await expect(nifty).toHaveAttribute('data-freshness', 'live');
});
