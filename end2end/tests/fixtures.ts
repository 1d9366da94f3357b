// A marketwarden server per test, started from the release build on a free port, with its clock
// set to the instant the test needs (`--clock-start`).
import { test as base, expect, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

const root = path.resolve(__dirname, '..', '..');
const binary = process.env.MARKETWARDEN_BIN ?? path.join(root, 'target', 'release', 'marketwarden');
const siteRoot = process.env.MARKETWARDEN_SITE_ROOT ?? path.join(root, 'target', 'site');
const START_TIMEOUT_MS = 20_000;

/** A running server; `envFile` is its own token file, in a fresh temporary folder. */
export type Server = { url: string; process: ChildProcess; envFile: string };

export async function startServer(clockStart: string): Promise<Server> {
  const envFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'marketwarden-e2e-')), '.env');
  const child = spawn(
    binary,
    [
      'serve',
      '--addr',
      '127.0.0.1:0',
      '--site-root',
      siteRoot,
      '--clock-start',
      clockStart,
      '--env-file',
      envFile,
    ],
    {
      // No Kite credentials: the simulated broker, the only one that accepts --clock-start.
      env: {
        ...process.env,
        ZERODHA_API_KEY: '',
        ZERODHA_API_SECRET: '',
        ZERODHA_ACCESS_TOKEN: '',
        ZERODHA_USER_ID: '',
        RUST_LOG: 'info',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${binary} did not report its address in ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${binary} exited with ${code} before listening`));
    });
    // Keep reading after the address is known, so the pipe never fills up.
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return { url, process: child, envFile };
}

/** Waits until the app in `page` has hydrated: the banner sets a marker once it runs in WASM. */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.getByTestId('status-banner')).toHaveAttribute('data-hydrated', 'true');
}

export const test = base.extend<{ clockStart: string; server: Server }>({
  clockStart: ['2026-11-30T10:00:00+05:30', { option: true }],
  server: async ({ clockStart }, use) => {
    const server = await startServer(clockStart);
    await use(server);
    server.process.kill('SIGTERM');
    fs.rmSync(path.dirname(server.envFile), { recursive: true, force: true });
  },
});

export { expect };
