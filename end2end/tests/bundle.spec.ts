// The release binary is a plain `cargo build --release` (.ci/build.sh; `cargo bench` relinks the
// same way): its page asks for the bundle by fixed names, not by a name cargo-leptos passes at
// compile time, and hydrates. Before the fix such a binary asked for
// `/pkg/marketwarden_bg.wasm` (404) and froze.
import { test, expect, waitForHydration } from './fixtures';

test.use({ clockStart: '2026-11-30T10:00:00+05:30' });

test('the page of a plain cargo release build loads its bundle and hydrates', async ({ page, server }) => {
  const bundle: { url: string; status: number }[] = [];
  page.on('response', (response) => {
    if (new URL(response.url()).pathname.startsWith('/pkg/')) {
      bundle.push({ url: new URL(response.url()).pathname, status: response.status() });
    }
  });
  await page.goto(server.url);
  await waitForHydration(page);
  await expect(page.getByTestId('banner-title')).toHaveText('Market Live');
  // Hydrated: the countdown moves in the browser.
  const countdown = page.getByTestId('countdown');
  const before = await countdown.textContent();
  await expect(countdown).not.toHaveText(before!, { timeout: 3_000 });
  const paths = bundle.map((entry) => entry.url);
  expect(paths).toContain('/pkg/marketwarden.js');
  expect(paths).toContain('/pkg/marketwarden.wasm');
  expect(bundle.filter((entry) => entry.status >= 400)).toEqual([]);
});
