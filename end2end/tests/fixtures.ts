// A marketwarden server per test, started from the release build on a free port, with its clock
// set to the instant the test needs (`--clock-start`).
import { test as base, expect, type Locator, type Page } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';

const root = path.resolve(__dirname, '..', '..');
const binary = process.env.MARKETWARDEN_BIN ?? path.join(root, 'target', 'release', 'marketwarden');
const siteRoot = process.env.MARKETWARDEN_SITE_ROOT ?? path.join(root, 'target', 'site');
const START_TIMEOUT_MS = 20_000;

/** A running server; `envFile` is its own token file, in a fresh temporary folder; `simUrl` is
 * its embedded Kite simulator's plain side (login page and the `/_sim/` fault API; the server
 * reaches its REST and ticker over TLS); `logs` every line
 * it printed so far. */
export type Server = {
  url: string;
  simUrl: string;
  process: ChildProcess;
  envFile: string;
  logs: string[];
  /** Settles once the process has exited and its output is read to the end. */
  closed: Promise<unknown>;
};

/** The embedded simulator's app: its API secret must never be seen, and it signs the access
 * tokens it issues, so any token of it can be recognised wherever it turns up. */
const SIM_API_KEY = 'marketwarden_sim';
const SIM_API_SECRET = 'marketwarden_sim_secret';

/** The secrets `text` holds, described without repeating them: the simulator's API secret, and
 * any 32-hex-digit run the simulator signed (an access token), as `sim/tokens.rs` signs them. */
export function secretsIn(text: string): string[] {
  const found: string[] = [];
  if (text.includes(SIM_API_SECRET)) {
    found.push('the API secret');
  }
  const key = `marketwarden-sim:${SIM_API_KEY}:${SIM_API_SECRET}`;
  for (const run of text.match(/[0-9a-fA-F]{32,}/g) ?? []) {
    for (let start = 0; start + 32 <= run.length; start++) {
      const candidate = run.slice(start, start + 32);
      const signature = createHmac('sha256', key).update(candidate.slice(0, 20)).digest('hex');
      if (signature.slice(0, 12) === candidate.slice(20)) {
        found.push('an access token');
        break;
      }
    }
  }
  return found;
}

export async function startServer(
  clockStart: string,
  extraArgs: string[] = [],
  serverBinary: string = binary,
): Promise<Server> {
  const envFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'marketwarden-e2e-')), '.env');
  // A named env file must exist (the server fails closed on a missing one).
  fs.writeFileSync(envFile, '', { mode: 0o600 });
  const child = spawn(
    serverBinary,
    [
      'serve',
      '--broker',
      'simulated',
      '--addr',
      '127.0.0.1:0',
      '--site-root',
      siteRoot,
      '--clock-start',
      clockStart,
      '--env-file',
      envFile,
      ...extraArgs,
    ],
    {
      // No Kite credentials: the simulated broker, the only one that accepts --clock-start.
      env: {
        ...process.env,
        ZERODHA_API_KEY: '',
        ZERODHA_API_SECRET: '',
        ZERODHA_ACCESS_TOKEN: '',
        ZERODHA_USER_ID: '',
        RUST_LOG: 'info,marketwarden_server=debug',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: string[] = [];
  const closed = new Promise((resolve) => child.once('close', resolve));
  readline.createInterface({ input: child.stderr! }).on('line', (line) => {
    logs.push(line);
    process.stderr.write(`${line}\n`);
  });
  let simUrl = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(new Error(`${serverBinary} did not report its address in ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${serverBinary} exited with ${code} before listening`));
    });
    // Keep reading after the address is known, so the pipe never fills up.
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      logs.push(line);
      // The embedded simulator's plain side: the login page and the `/_sim/` API (the server
      // itself reaches its REST and ticker over https:// and wss://).
      const sim = line.match(/simulated broker started.*login=(http:\/\/[^\s/]+)/);
      if (sim) {
        simUrl = sim[1];
      }
      const match = line.match(/listening on (http:\/\/\S+)/);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
  });
  return { url, simUrl, process: child, envFile, logs, closed };
}

/** Logs the demo user in through the simulator's login page over plain HTTP, as a browser
 * without JavaScript would, and waits until the server's priority is the market session. */
export async function logIn(server: Server): Promise<void> {
  const start = await fetch(`${server.url}/auth/login`, { redirect: 'manual' });
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0];
  const loginUrl = start.headers.get('location')!;
  const page = await (await fetch(loginUrl)).text();
  const hidden = page.match(/name="redirect_params" value="([^"]*)"/)![1].replaceAll('&amp;', '&');
  const form = new URLSearchParams({
    api_key: 'marketwarden_sim',
    redirect_params: hidden,
    user_id: 'MW0001',
    password: 'demo',
    action: 'login',
  });
  const submitted = await fetch(`${server.simUrl}/connect/login`, {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
  const done = await fetch(submitted.headers.get('location')!, {
    headers: { cookie },
    redirect: 'manual',
  });
  expect(done.status).toBe(303);
  await waitForPriority(server, 'MARKET_SESSION');
}

/** Waits until `/api/system/health` reports `priority`. */
export async function waitForPriority(server: Server, priority: string): Promise<void> {
  await expect
    .poll(
      async () => (await (await fetch(`${server.url}/api/system/health`)).json()).priority_status,
      { timeout: 10_000, intervals: [50] },
    )
    .toBe(priority);
}

/** Sets the embedded simulator's faults (the whole set; fields left out are off). */
export async function setFaults(server: Server, faults: Record<string, unknown>): Promise<void> {
  const answer = await fetch(`${server.simUrl}/_sim/faults`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(faults),
  });
  expect(answer.ok).toBe(true);
}

/** Waits until the app in `page` has hydrated: the banner sets a marker once it runs in WASM. */
export async function waitForHydration(page: Page): Promise<void> {
  await expect(page.getByTestId('status-banner')).toHaveAttribute('data-hydrated', 'true');
}

/** Opens the server's dashboard, waits for hydration and returns the banner. */
export async function openHydrated(page: Page, server: Server): Promise<Locator> {
  await page.goto(server.url);
  await waitForHydration(page);
  return page.getByTestId('status-banner');
}

export const test = base.extend<{
  clockStart: string;
  loggedIn: boolean;
  serverArgs: string[];
  serverBinary: string;
  server: Server;
  transcript: string[];
}>({
  clockStart: ['2026-11-30T10:00:00+05:30', { option: true }],
  // Most specs are about the market and the feed: they start logged in.
  loggedIn: [true, { option: true }],
  serverArgs: [[], { option: true }],
  serverBinary: [binary, { option: true }],
  // Everything the browser received and every line the server printed, scanned for secrets
  // once the test is over (this fixture is torn down after the page and the server).
  transcript: async ({}, use) => {
    const transcript: string[] = [];
    await use(transcript);
    expect(secretsIn(transcript.join('\n')), 'secrets in answers or log lines').toEqual([]);
  },
  page: async ({ page, transcript }, use) => {
    const bodies: Promise<void>[] = [];
    page.on('response', (response) => {
      transcript.push(JSON.stringify(response.headers()));
      // Event streams never end; their events are the health answers, scanned as answers of
      // `/api/system/health` and in the page's text below.
      if ((response.headers()['content-type'] ?? '').includes('text/event-stream')) {
        return;
      }
      bodies.push(
        response.text().then(
          (text) => void transcript.push(text),
          // Redirects and loads cut short by the end of the test have no body.
          () => undefined,
        ),
      );
    });
    page.on('websocket', (socket) =>
      socket.on('framereceived', (frame) => transcript.push(String(frame.payload))),
    );
    await use(page);
    // What the page shows, event-stream updates included.
    transcript.push(await page.content().catch(() => ''));
    await Promise.allSettled(bodies);
  },
  server: async ({ clockStart, loggedIn, serverArgs, serverBinary, transcript }, use) => {
    const server = await startServer(clockStart, serverArgs, serverBinary);
    if (loggedIn) {
      await logIn(server);
    }
    await use(server);
    server.process.kill('SIGTERM');
    await server.closed;
    transcript.push(...server.logs);
    fs.rmSync(path.dirname(server.envFile), { recursive: true, force: true });
  },
});

export { expect };
