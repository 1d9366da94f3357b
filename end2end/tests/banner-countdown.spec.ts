// After hydration the banner counts down every second and changes phase by itself, computed in
// the browser by the core compiled to WASM from the server's clock, not the browser's.
import { test, expect, waitForHydration } from './fixtures';

// Monday 2026-11-30, five seconds before the 09:15 open.
test.use({ clockStart: '2026-11-30T09:14:55+05:30' });

test.beforeEach(async ({ page }) => {
  // A trader's PC clock may be wrong: set the browser's to a Sunday night in 2001. The banner
  // must not use it.
  await page.addInitScript(() => {
    const wrong = Date.parse('2001-07-01T22:00:00+05:30');
    const realNow = Date.now.bind(Date);
    const skew = wrong - realNow();
    Date.now = () => realNow() + skew;
  });
});

test('the countdown ticks and the phase turns LIVE at 09:15 IST', async ({ page, server }) => {
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });

  await page.goto(server.url);
  await waitForHydration(page);

  const banner = page.getByTestId('status-banner');
  const countdown = page.getByTestId('countdown');
  await expect(banner).toHaveAttribute('data-phase', 'AUCTION_FREEZE');
  const first = await countdown.textContent();
  expect(first).toMatch(/^Trading starts in 00:0[0-5]$/);
  await expect(countdown).not.toHaveText(first!);

  await expect(banner).toHaveAttribute('data-phase', 'LIVE');
  await expect(page.getByTestId('banner-title')).toHaveText('Market Live');
  await expect(countdown).toHaveText(/^Market closes in 6:1[45]:\d\d$/);
  await expect(page.getByTestId('exchange-clock')).toHaveText(/^09:1[56]:\d\d IST$/);

  expect(problems).toEqual([]);
});
