// The banner names holidays and special sessions, and says plainly when the calendar's data does
// not cover the date, both in the server's HTML and after hydration.
import { test, expect, waitForHydration } from './fixtures';

test.describe('on a trading holiday', () => {
  // Tuesday 2026-11-10, Diwali-Balipratipada, 10:00 IST.
  test.use({ clockStart: '2026-11-10T10:00:00+05:30' });

  test('the title names the holiday and the countdown runs to the next pre-open', async ({
    page,
    server,
  }) => {
    await page.goto(server.url);
    await waitForHydration(page);
    await expect(page.getByTestId('status-banner')).toHaveAttribute('data-phase', 'CLOSED');
    await expect(page.getByTestId('banner-title')).toHaveText('Market Closed');
    await expect(page.getByTestId('banner-description')).toHaveText(
      'Trading holiday: Diwali-Balipratipada. Pre-open starts Wed 11 Nov at 09:00 IST.',
    );
    await expect(page.getByTestId('countdown')).toHaveText(/^Pre-open starts in 22:59:\d\d$/);
  });
});

test.describe('past the calendar data', () => {
  // Monday 2027-03-01, 10:00 IST: weekday rules, with a warning.
  test.use({ clockStart: '2027-03-01T10:00:00+05:30' });

  test('the banner warns that the holiday list is not loaded', async ({ page, server }) => {
    await page.goto(server.url);
    await waitForHydration(page);
    await expect(page.getByTestId('status-banner')).toHaveAttribute('data-phase', 'LIVE');
    await expect(page.getByTestId('calendar-notice')).toContainText(
      'holiday list for 2027 not loaded',
    );
  });
});
