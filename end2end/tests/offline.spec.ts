// The server goes away: the banner says so, and keeps the market phase and the countdown running
// from the calendar compiled to WASM and the server's last known time.
import { test, expect, waitForHydration } from './fixtures';

// Monday 2026-11-30, 10:00 IST: LIVE until 15:30.
test.use({ clockStart: '2026-11-30T10:00:00+05:30' });

test('with the server stopped the banner is offline but the phase and countdown go on', async ({
  page,
  server,
}) => {
  await page.goto(server.url);
  await waitForHydration(page);
  await expect(page.getByTestId('banner-title')).toHaveText('Market Live');
  await expect(page.getByTestId('offline-notice')).toHaveCount(0);

  server.process.kill('SIGTERM');
  await expect(page.getByTestId('offline-notice')).toContainText('Server unreachable since', {
    timeout: 15_000,
  });
  // The market from the browser: still LIVE, still counting down to 15:30.
  await expect(page.getByTestId('banner-title')).toHaveText('Market Live');
  const countdown = page.getByTestId('countdown');
  const before = await countdown.textContent();
  await expect(countdown).not.toHaveText(before!, { timeout: 3_000 });
  await expect(countdown).toHaveText(/^Market closes in 5:2\d:\d\d$/);
  await expect(page.getByTestId('exchange-clock')).toHaveText(/^10:0\d:\d\d IST$/);
});
