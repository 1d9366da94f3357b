// The opening call auction seen live: PRE_OPEN turns AUCTION_FREEZE at 09:07 IST by itself
// (and banner-countdown.spec.ts sees AUCTION_FREEZE turn LIVE at 09:15).
import { test, expect, waitForHydration } from './fixtures';

test.use({ clockStart: '2026-11-30T09:06:56+05:30' });

test('pre-open turns into the auction freeze at 09:07 IST without a reload', async ({ page, server }) => {
  await page.goto(server.url);
  await waitForHydration(page);
  const banner = page.getByTestId('status-banner');
  await expect(banner).toHaveAttribute('data-phase', 'PRE_OPEN');
  await expect(page.getByTestId('banner-title')).toHaveText('Pre-Open Session');
  await expect(banner).toHaveAttribute('data-phase', 'AUCTION_FREEZE', { timeout: 10_000 });
  await expect(page.getByTestId('banner-title')).toHaveText('Auction Freeze');
  await expect(banner).toHaveAttribute('role', 'status');
});
