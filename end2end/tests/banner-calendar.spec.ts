// The banner names holidays and special sessions, and says plainly when the calendar's data does
// not cover the date, both in the server's HTML and after hydration; an open page follows the
// server's calendar when the operator reloads it.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test, expect, openHydrated } from './fixtures';

test.describe('on a trading holiday', () => {
  // Tuesday 2026-11-10, Diwali-Balipratipada, 10:00 IST.
  test.use({ clockStart: '2026-11-10T10:00:00+05:30' });

  test('the title names the holiday and the countdown runs to the next pre-open', async ({
    page,
    server,
  }) => {
    const banner = await openHydrated(page, server);
    await expect(banner).toHaveAttribute('data-phase', 'CLOSED');
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
    const banner = await openHydrated(page, server);
    await expect(banner).toHaveAttribute('data-phase', 'LIVE');
    await expect(page.getByTestId('calendar-notice')).toContainText(
      'holiday list for 2027 not loaded',
    );
  });
});

test.describe('after the operator reloads the calendar file (SIGHUP)', () => {
  // Wednesday 2026-12-02, 10:00 IST: a trading day until the operator's file says otherwise.
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'mw-calendar-'));
  const calendarFile = path.join(folder, 'calendar.csv');
  fs.writeFileSync(calendarFile, 'date,kind,hours,name\n');
  test.use({
    clockStart: '2026-12-02T10:00:00+05:30',
    serverArgs: ['--calendar', calendarFile],
  });

  test('an open page takes the new calendar, then the error of a bad one, without a reload', async ({
    page,
    server,
  }) => {
    const banner = await openHydrated(page, server);
    await expect(banner).toHaveAttribute('data-phase', 'LIVE');
    // Marks the document: a navigation would lose it.
    await page.evaluate(() => ((window as unknown as { mark: string }).mark = 'same page'));

    fs.writeFileSync(calendarFile, 'date,kind,hours,name\n2026-12-02,closed,,Exchange outage\n');
    server.process.kill('SIGHUP');
    await expect(banner).toHaveAttribute('data-phase', 'CLOSED');
    await expect(page.getByTestId('banner-description')).toContainText(
      'Trading holiday: Exchange outage.',
    );
    // The phase the browser computes each second keeps the new calendar too.
    const countdown = page.getByTestId('countdown');
    const shown = await countdown.textContent();
    await expect(countdown).not.toHaveText(shown!);
    await expect(banner).toHaveAttribute('data-phase', 'CLOSED');

    fs.writeFileSync(calendarFile, 'date,kind,hours,name\n2026-12-02,clsoed,,Typo\n');
    server.process.kill('SIGHUP');
    await expect(page.getByTestId('calendar-notice')).toContainText('calendar.csv');
    // The last good calendar stays in use.
    await expect(banner).toHaveAttribute('data-phase', 'CLOSED');
    expect(await page.evaluate(() => (window as unknown as { mark?: string }).mark)).toBe(
      'same page',
    );
  });
});
