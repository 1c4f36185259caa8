// Test helper: Debian's /usr/bin/chromium driven by playwright-core (never a downloaded browser),
// headless with the launch flags of shared/notes/test-infrastructure.md and a fresh profile;
// screenshots go to test-artifacts/dashboard/ at the repository root.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchBrowser() {
  const exe = '/usr/bin/chromium';
  if (!fs.existsSync(exe)) throw new Error(`${exe} not found: install Debian's chromium (scripts/deps.sh does)`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsm-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: exe, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 } });
  return {
    ctx,
    async page(url) {
      const page = await ctx.newPage();
      page.errors = [];
      page.on('pageerror', (e) => page.errors.push(e.message));
      // Console errors count, except the browser's own log lines for refused WebSocket
      // connections (expected while the hub is down).
      page.on('console', (m) => {
        if (m.type() === 'error' && !/^WebSocket connection to .* failed/.test(m.text())) page.errors.push(`${m.text()} (${m.location().url})`);
      });
      if (url) await page.goto(url);
      return page;
    },
    async close() {
      await ctx.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** test-artifacts/dashboard/, emptied of the screenshots of an earlier run. */
export function artifactsDir(srcdir) {
  const dir = path.join(srcdir, 'test-artifacts', 'dashboard');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}
