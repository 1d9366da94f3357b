// The production path in a real browser: `marketwarden serve --broker kite` with an env file,
// against `kite-sim --tls-self-signed` (https:// and wss://), trusted through SSL_CERT_FILE,
// in a trading session that a calendar file puts around now — as an operator would run it.
// The trader logs in through the banner, and live prices stream over the server's wss:// feed.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { test, expect, waitForHydration } from './fixtures';

const root = path.resolve(__dirname, '..', '..');
const binary = process.env.MARKETWARDEN_BIN ?? path.join(root, 'target', 'release', 'marketwarden');
const siteRoot = process.env.MARKETWARDEN_SITE_ROOT ?? path.join(root, 'target', 'site');

// The browser meets the simulator's own certificate on its login page; the server's Kite
// client is what must check it (SSL_CERT_FILE), and does.
test.use({ ignoreHTTPSErrors: true });

/** A free loopback port: the simulator must know where to send the browser back. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const port = (probe.address() as net.AddressInfo).port;
      probe.close(() => resolve(port));
    });
  });
}

/** A calendar file with a trading session today (IST) from a minute ago for up to an hour; too
 * close to midnight for that, it waits until the next day begins. */
async function sessionAroundNow(folder: string): Promise<string> {
  let ist = new Date(Date.now() + 330 * 60_000);
  if (ist.getUTCHours() === 23 && ist.getUTCMinutes() >= 57) {
    const untilMidnight = (60 - ist.getUTCMinutes()) * 60_000 - ist.getUTCSeconds() * 1000;
    await new Promise((resolve) => setTimeout(resolve, untilMidnight + 5_000));
    ist = new Date(Date.now() + 330 * 60_000);
  }
  const minutes = ist.getUTCHours() * 60 + ist.getUTCMinutes();
  const hhmm = (m: number) =>
    `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  const open = Math.max(0, minutes - 1);
  const close = Math.min(23 * 60 + 59, minutes + 60);
  const date = ist.toISOString().slice(0, 10);
  const file = path.join(folder, 'calendar.csv');
  fs.writeFileSync(
    file,
    `date,kind,hours,name\n${date},session,trading ${hhmm(open)}-${hhmm(close)},Test session\n`,
  );
  return file;
}

type Child = { process: ChildProcess; lines: string[]; closed: Promise<unknown> };

/** Starts `args`, collecting its output; resolves once a line matches `ready`. */
async function start(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<Child & { match: RegExpMatchArray }> {
  const child = spawn(binary, args, {
    env: {
      ...process.env,
      ZERODHA_API_KEY: '',
      ZERODHA_API_SECRET: '',
      ZERODHA_ACCESS_TOKEN: '',
      ZERODHA_USER_ID: '',
      RUST_LOG: 'info,marketwarden_server=debug',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const closed = new Promise((resolve) => child.once('close', resolve));
  readline.createInterface({ input: child.stderr! }).on('line', (line) => lines.push(line));
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${ready} from ${args[0]}`)), 20_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args[0]} exited with ${code}: ${lines.join('\n')}`));
    });
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      lines.push(line);
      const found = line.match(ready);
      if (found) {
        clearTimeout(timer);
        resolve(found);
      }
    });
  });
  return { process: child, lines, closed, match };
}

test('serve --broker kite over TLS: log in through the banner, prices stream', async ({
  page,
  transcript,
}) => {
  // Near IST midnight the session waits for the next day (at most 3 minutes).
  test.setTimeout(240_000);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'marketwarden-production-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const ca = path.join(folder, 'kite-sim-ca.pem');
  const calendar = await sessionAroundNow(folder);
  const sim = await start(
    [
      'kite-sim',
      '--addr',
      '127.0.0.1:0',
      '--tls-self-signed',
      '--tls-ca-out',
      ca,
      '--calendar',
      calendar,
      '--redirect-url',
      `${base}/auth/callback`,
    ],
    {},
    /^ca: /,
  );
  const url = (name: string) =>
    sim.lines.find((line) => line.startsWith(`${name}: `))!.slice(name.length + 2);
  expect(url('rest')).toMatch(/^https:\/\//);
  expect(url('ticker')).toMatch(/^wss:\/\//);
  const envFile = path.join(folder, 'kite.env');
  fs.writeFileSync(
    envFile,
    'ZERODHA_API_KEY=marketwarden_sim\nZERODHA_API_SECRET=marketwarden_sim_secret\n',
    { mode: 0o600 },
  );
  const server = await start(
    [
      'serve',
      '--broker',
      'kite',
      '--addr',
      `127.0.0.1:${port}`,
      '--site-root',
      siteRoot,
      '--env-file',
      envFile,
      '--calendar',
      calendar,
    ],
    {
      SSL_CERT_FILE: ca,
      KITE_API_ROOT: url('rest'),
      KITE_LOGIN_URL: url('login'),
      KITE_TICKER_URL: url('ticker'),
    },
    /listening on http:\/\/\S+/,
  );
  try {
    expect(server.match[0]).toContain(base);
    await page.goto(base);
    await waitForHydration(page);
    await expect(page.getByTestId('banner-title')).toHaveText('Login required');
    // Not the simulator: the page does not say "Simulated broker".
    await expect(page.getByText('Simulated broker')).toHaveCount(0);

    await page.getByTestId('login-button').click();
    await expect(page).toHaveURL(/^https:\/\/127\.0\.0\.1:\d+\/connect\/login/);
    await page.getByRole('button', { name: 'Log in' }).click();

    await expect(page).toHaveURL(`${base}/`);
    await waitForHydration(page);
    await expect(page.getByTestId('status-banner')).toHaveAttribute(
      'data-priority',
      'MARKET_SESSION',
      { timeout: 15_000 },
    );
    await expect(page.getByTestId('banner-title')).toHaveText(/^Market Live/);
    const nifty = page.getByTestId('price-row').first();
    await expect(nifty).toHaveAttribute('data-freshness', 'live', { timeout: 15_000 });
    await expect(nifty.getByTestId('last-price')).not.toHaveText('—');
    const health = await (await page.request.get(`${base}/api/system/health`)).json();
    expect(health.broker).toBe('kite');
    expect(health.feed.state).toBe('connected');
    expect(server.lines.some((line) => line.includes('FEED STATE: CONNECTED'))).toBe(true);
  } finally {
    server.process.kill('SIGTERM');
    sim.process.kill('SIGTERM');
    await Promise.all([server.closed, sim.closed]);
    transcript.push(...server.lines, ...sim.lines);
    fs.rmSync(folder, { recursive: true, force: true });
  }
});
