// The banner is rendered on the server: a browser without JavaScript reads the right phase.
import { test, expect } from './fixtures';

test.use({ javaScriptEnabled: false });

test.describe('during the auction freeze', () => {
  // Monday 2026-11-30, 09:10 IST.
  test.use({ clockStart: '2026-11-30T09:10:00+05:30' });

  test('the phase, its description and the countdown are in the HTML', async ({ page, server }) => {
    await page.goto(server.url);
    const banner = page.getByTestId('status-banner');
    await expect(banner).toHaveAttribute('data-phase', 'AUCTION_FREEZE');
    await expect(page.getByTestId('banner-title')).toHaveText('Auction Freeze');
    await expect(page.getByTestId('banner-description')).toContainText('Trading starts at 09:15 IST');
    await expect(page.getByTestId('countdown')).toHaveText(/^Trading starts in 0[45]:\d\d$/);
    await expect(banner).toHaveAttribute('role', 'status');
    // Started without Kite credentials: the page says so plainly.
    await expect(page.getByTestId('broker-badge')).toHaveText('Simulated broker');
    // Nothing ran in the page: it never hydrated.
    await expect(banner).not.toHaveAttribute('data-hydrated', 'true');
  });
});

test.describe('on a weekend', () => {
  // Saturday 2026-11-28, 11:00 IST.
  test.use({ clockStart: '2026-11-28T11:00:00+05:30' });

  test('the banner says closed for the weekend and when pre-open starts', async ({ page, server }) => {
    await page.goto(server.url);
    await expect(page.getByTestId('status-banner')).toHaveAttribute('data-phase', 'CLOSED');
    await expect(page.getByTestId('banner-title')).toHaveText('Market Closed');
    await expect(page.getByTestId('banner-description')).toHaveText(
      'Weekend. Pre-open starts Mon 30 Nov at 09:00 IST.',
    );
  });
});
