// After the cash market closes, NSE F&O trades until 15:40 (since 2026-08-03): with an F&O
// instrument subscribed, the banner says so, the feed stays up, and each row shows its
// segment's own phase.
import { test, expect, openHydrated } from './fixtures';

const INSTRUMENTS = ['--feed-instruments', '256265:full=NIFTY 50,12345602:quote=NIFTY FUT'];

test.describe('at 15:35 with an F&O instrument', () => {
  // Tuesday 2026-12-01, 15:35 IST: cash closed (after its closing auction), F&O live.
  test.use({ clockStart: '2026-12-01T15:35:00+05:30', serverArgs: INSTRUMENTS });

  test('the banner says F&O is live until 15:40 and each row shows its segment', async ({
    page,
    server,
  }) => {
    const banner = await openHydrated(page, server);
    await expect(banner).toHaveAttribute('data-phase', 'CLOSED');
    await expect(banner).toHaveAttribute('data-priority', 'MARKET_SESSION');
    await expect(page.getByTestId('banner-title')).toHaveText('Market Closed');
    await expect(page.getByTestId('segments-line')).toHaveText('NSE F&O live until 15:40 IST');
    const rows = page.getByTestId('price-row');
    await expect(rows.nth(0).getByTestId('segment-phase')).toHaveText('NSE cash · Market Closed');
    await expect(rows.nth(1).getByTestId('segment-phase')).toHaveText('NSE F&O · Market Live');
    // The F&O future still ticks; NIFTY 50 has only the last known value the ticker sends
    // after a subscription, which is no live data.
    await expect(rows.nth(1)).toHaveAttribute('data-freshness', 'live');
    await expect(rows.nth(0)).toHaveAttribute('data-freshness', 'last known');
    await expect(rows.nth(0).getByTestId('last-price')).not.toHaveText('—');

    const health = await (await fetch(`${server.url}/api/system/health`)).json();
    expect(health.market.phase).toBe('CLOSED');
    expect(health.market.exchange_phase).toBe('CLOSED');
    expect(health.market.segments.map((s: { segment: string }) => s.segment)).toEqual([
      'nse-cm',
      'nse-fo',
    ]);
    expect(health.market.segments[1].phase).toBe('LIVE');
    expect(health.feed.state).toBe('connected');
  });
});

test.describe('at F&O close', () => {
  test.use({ clockStart: '2026-12-01T15:39:55+05:30', serverArgs: INSTRUMENTS });

  test('at 15:40 the line goes and the F&O row says closed, without a reload', async ({
    page,
    server,
  }) => {
    const banner = await openHydrated(page, server);
    await expect(page.getByTestId('segments-line')).toBeVisible();
    await expect(page.getByTestId('segments-line')).toHaveCount(0, { timeout: 10_000 });
    await expect(page.getByTestId('price-row').nth(1).getByTestId('segment-phase')).toHaveText(
      'NSE F&O · Market Closed',
    );
    await expect(banner).toHaveAttribute('data-priority', 'MARKET_SESSION');
  });
});
