// Test harness: runs the real Podium server binary on free ports and the
// Debian Chromium through playwright-core, and reads WebRTC statistics from
// the pages. Nothing here is mocked: pages talk to the server, the mediasoup
// workers forward the media.

import { spawn } from 'node:child_process';
import { mkdirSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const clientDir = resolve(here, '..');
export const repoRoot = resolve(clientDir, '..');
export const artifactsDir = join(repoRoot, 'test-artifacts');
const binary = process.env.PODIUM_BIN ?? join(repoRoot, 'target/debug/podium');
const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--mute-audio',
];

// Child processes this process started: killed if it exits before stopping them.
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of children) child.kill('SIGKILL');
    process.exit(130);
  });
}

/** Another child process (an ingest, a probe) to kill if this process exits before the test stops it. */
export function ownChild(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** A TCP port nothing listens on right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * Starts target/debug/podium serving client/dist on a free port, with its own
 * range of media ports. `restart()` brings it back on the same ports (same
 * token secret, so join links keep working).
 */
export async function startServer({ workers = 2 } = {}) {
  if (!existsSync(binary)) throw new Error(`${binary} is missing: cargo build -p podium-server`);
  if (!existsSync(join(clientDir, 'dist/index.html'))) throw new Error('client/dist is missing: npm run build');
  const port = await freePort();
  const rtcMin = 20000 + Math.floor(Math.random() * 400) * 100;
  const base = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    PODIUM_HTTP__LISTEN: `127.0.0.1:${port}`,
    PODIUM_HTTP__STATIC_DIR: join(clientDir, 'dist'),
    PODIUM_RTC__PORT_MIN: String(rtcMin),
    PODIUM_RTC__PORT_MAX: String(rtcMin + 99),
    PODIUM_RTC__WORKERS: String(workers),
    PODIUM_AUTH__DEV_MODE: 'true',
    PODIUM_AUTH__TOKEN_SECRET: `test-secret-${port}-0123456789abcdefghijklmnopqrstuvwxyz`,
    PODIUM_AUTH__ADMIN_KEY: `test-admin-key-${port}`,
    PODIUM_AUTH__DEV_SECRET: devSecretFor(base),
    PODIUM_RECORDING__DIR: join(tmpdir(), `podium-client-recordings-${port}`),
    RUST_LOG: process.env.RUST_LOG ?? 'info',
  };
  const logs = [];
  let child = null;

  async function launch() {
    child = spawn(binary, [], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const proc = child;
    children.add(proc);
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      const line = `[harness] podium (pid ${proc.pid}) exited: code ${code}, signal ${signal}`;
      logs.push(`${line}\n`);
      if (!proc.stopping) console.error(`${line} -- unexpectedly, before the tests stopped it`);
    });
    const keep = (chunk) => {
      logs.push(chunk.toString());
      if (logs.length > 4000) logs.splice(0, 1000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const code = await Promise.race([exited, sleep(200).then(() => undefined)]);
      if (code !== undefined) throw new Error(`podium exited with ${code}:\n${logs.join('')}`);
      try {
        const response = await fetch(`${base}/health`);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
    }
    throw new Error(`podium did not become healthy:\n${logs.join('')}`);
  }

  async function stop() {
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const proc = child;
    proc.stopping = true;
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    const timedOut = await Promise.race([gone.then(() => false), sleep(8000).then(() => true)]);
    if (timedOut) {
      proc.kill('SIGKILL');
      await gone;
    }
  }

  await launch();
  return {
    base,
    port,
    adminKey: env.PODIUM_AUTH__ADMIN_KEY,
    /** The start page as the printed start link opens it (with the dev secret). */
    startLink: `${base}/#dev=${devSecretFor(base)}`,
    logs,
    stop,
    restart: launch,
  };
}

/** The dev secret (auth.dev_secret) of the test server at `base`. */
function devSecretFor(base) {
  return `test-dev-secret-${new URL(base).port}`;
}

/**
 * A join token from the dev-mode endpoint; `link` is the page URL with it
 * (and, given `adminKey`, the admin key: the server never hands it out).
 */
export async function devToken(base, { room, name, role, adminKey }) {
  const query = new URLSearchParams({ room, name, role });
  const response = await fetch(`${base}/api/dev/token?${query}`, { headers: { 'x-podium-dev': devSecretFor(base) } });
  if (!response.ok) throw new Error(`dev token: HTTP ${response.status} ${await response.text()}`);
  const body = await response.json();
  const link = adminKey ? `${body.url}&key=${encodeURIComponent(adminKey)}` : body.url;
  return { ...body, link };
}

export async function adminGet(server, path) {
  const response = await fetch(`${server.base}${path}`, { headers: { authorization: `Bearer ${server.adminKey}` } });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/**
 * Chromium with fake cameras, microphones and screen; `denyMedia` makes its
 * permission prompts answer "deny" instead of "allow".
 */
export async function launchBrowser({ denyMedia = false, cameras = 1, extraArgs = [] } = {}) {
  const args = CHROMIUM_ARGS.map((arg) => {
    if (denyMedia && arg === '--use-fake-ui-for-media-stream') return '--use-fake-ui-for-media-stream=deny';
    if (cameras > 1 && arg === '--use-fake-device-for-media-stream') return `${arg}=device-count=${cameras}`;
    return arg;
  });
  args.push(...extraArgs);
  // playwright-core gives every launch a fresh temporary user-data-dir.
  return chromium.launch({ executablePath: chromiumPath, headless: true, args });
}

/**
 * Test instruments, installed before the page's own scripts: they keep a
 * reference to every RTCPeerConnection (to read getStats) and WebSocket (to
 * cut it). The page's code is unchanged.
 */
function instrument() {
  const pcs = [];
  const sockets = [];
  const NativePC = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) {
      super(...args);
      pcs.push(this);
    }
  };
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      sockets.push(this);
    }
  };
  Object.defineProperty(window, '__test', { value: { pcs, sockets }, enumerable: false });
}

/**
 * A page in its own browser context (own cookies, storage, media), with its
 * console errors and uncaught exceptions collected in `page.problems`.
 */
export async function openPage(browser, url, { name = 'page', viewport = { width: 1280, height: 800 } } = {}) {
  const context = await browser.newContext({ viewport });
  await context.addInitScript(instrument);
  const page = await context.newPage();
  page.problems = [];
  page.label = name;
  page.on('console', (message) => {
    if (message.type() === 'error') page.problems.push(`${name} console: ${message.text()}`);
  });
  page.on('pageerror', (error) => page.problems.push(`${name} exception: ${error.message}`));
  // Signaling as the page saw it, for failure reports: layer changes and preferred-layer requests.
  page.signalingLog = [];
  const started = Date.now();
  const keep = (direction, payload) => {
    const text = String(payload);
    if (!/consumerLayersChanged|setConsumerPreferredLayers|producerClosed|newProducer/.test(text)) return;
    page.signalingLog.push(`${((Date.now() - started) / 1000).toFixed(1)}s ${direction} ${text.replace(/"consumerId":"[^"]+",?/, '')}`);
    if (page.signalingLog.length > 60) page.signalingLog.shift();
  };
  page.on('websocket', (ws) => {
    ws.on('framesent', (frame) => keep('>', frame.payload));
    ws.on('framereceived', (frame) => keep('<', frame.payload));
  });
  await page.goto(url);
  return page;
}

/**
 * The pages one test file opens in one browser against one server, kept for
 * the final "no page logged a problem" check, and the teacher's first steps.
 */
export class Classroom {
  /** @param {{ room: string, teacher: string }} who the room and the teacher's display name */
  constructor(server, browser, { room, teacher }) {
    this.server = server;
    this.browser = browser;
    this.room = room;
    this.teacher = teacher;
    /** Every page opened, in order. */
    this.pages = [];
  }

  /** Opens `url` in a new context, named `name` in reports. */
  async open(url, name) {
    const page = await openPage(this.browser, url, { name });
    this.pages.push(page);
    return page;
  }

  /** The teacher page, connected, its camera previewed, ready to go live. */
  async openTeacher(name) {
    const { link } = await devToken(this.server.base, { room: this.room, name: this.teacher, role: 'teacher' });
    const page = await this.open(link, name);
    await until(`${name} connected`, () => page.locator('#connection[data-state=live]').count());
    await until(`${name} preview`, () => page.locator('#preview[data-has-media]').count());
    await until(`${name} go-live enabled`, () => page.locator('#go-live:not([disabled])').count());
    return page;
  }

  /** Clicks "Go live" and waits until the broadcast is live. */
  async goLive(page) {
    await page.click('#go-live');
    await until('broadcast live', () => page.locator('#broadcast-state[data-state=live]').count());
    await until('share-screen enabled', () => page.locator('#share-screen:not([disabled])').count());
  }

  /** Every problem any page logged. */
  problems() {
    return this.pages.flatMap((page) => page.problems);
  }
}

/** Forgets browser-reported failures a test provokes on purpose (a refused request, a server down). */
export function dropExpected(page, patterns) {
  page.problems = page.problems.filter((p) => !patterns.some((re) => re.test(p)));
}

/**
 * Inbound RTP statistics of every live peer connection of the page, each
 * tagged with what it carries on the page: 'camera', 'screen' (the video
 * elements) or the audio element's source and peer.
 */
export async function inboundStats(page) {
  return page.evaluate(async () => {
    const tagOf = new Map();
    const videoTrack = (id) => document.getElementById(id)?.srcObject?.getVideoTracks?.()[0];
    const camera = videoTrack('camera-video');
    if (camera) tagOf.set(camera.id, { tag: 'camera' });
    const screen = videoTrack('screen-video');
    if (screen) tagOf.set(screen.id, { tag: 'screen' });
    for (const audio of document.querySelectorAll('audio[data-consumer-id]')) {
      const track = audio.srcObject?.getAudioTracks?.()[0];
      if (track) tagOf.set(track.id, { tag: `audio:${audio.dataset.source}`, peerId: audio.dataset.peerId });
    }
    const out = [];
    for (const pc of window.__test.pcs) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      for (const s of report.values()) {
        if (s.type !== 'inbound-rtp') continue;
        const tag = tagOf.get(s.trackIdentifier) ?? { tag: null };
        out.push({
          ...tag,
          kind: s.kind,
          trackId: s.trackIdentifier,
          ssrc: s.ssrc,
          packetsReceived: s.packetsReceived ?? 0,
          packetsLost: s.packetsLost ?? 0,
          framesDecoded: s.framesDecoded ?? 0,
          frameWidth: s.frameWidth ?? 0,
          frameHeight: s.frameHeight ?? 0,
          bytesReceived: s.bytesReceived ?? 0,
        });
      }
    }
    return out;
  });
}

/** Outbound RTP statistics (what the page sends), by rid for simulcast. */
export async function outboundStats(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const pc of window.__test.pcs) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      for (const s of report.values()) {
        if (s.type !== 'outbound-rtp') continue;
        out.push({
          kind: s.kind,
          rid: s.rid ?? null,
          mid: s.mid,
          packetsSent: s.packetsSent ?? 0,
          framesEncoded: s.framesEncoded ?? 0,
          frameWidth: s.frameWidth ?? 0,
          frameHeight: s.frameHeight ?? 0,
          qualityLimitationReason: s.qualityLimitationReason ?? null,
          active: s.active ?? null,
        });
      }
    }
    return out;
  });
}

/** Polls `probe` until it returns a truthy value; that value, or an error naming `what`. */
export async function until(what, probe, { timeout = 20_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    await sleep(interval);
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

export async function screenshot(page, name) {
  mkdirSync(artifactsDir, { recursive: true });
  const path = join(artifactsDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export { sleep };
