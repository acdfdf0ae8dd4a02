// Students behind a firewall: run by client/run-firewall-test.sh, which builds
// the network (a namespace whose nftables drop all UDP and all TCP but the
// TURN/TLS port and Podium's HTTP port), starts coturn and passes FW_* below.
// Not a *.test.mjs: client/run-tests.sh must not pick it up without that setup.
//
// Podium listens on the host side of the veth pair, with [turn] pointing at
// coturn. A teacher (host namespace) goes live; an open student (host
// namespace) and a firewalled student (Chromium inside the namespace) watch.
// Each student's selected ICE candidate pair is read from getStats(), printed
// and written to test-artifacts/firewall-candidates.json.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import {
  CHROMIUM_ARGS,
  artifactsDir,
  clientDir,
  inboundStats,
  launchBrowser,
  openPage,
  ownChild,
  repoRoot,
  screenshot,
  sleep,
  until,
} from './harness.mjs';

const env = process.env;
for (const name of ['FW_HOST_IP', 'FW_HTTP_PORT', 'FW_RTC_PORT', 'FW_TURN_PORT', 'FW_TLS_PORT', 'FW_TURN_SECRET', 'FW_TURN_SPKI', 'FW_CHROMIUM', 'FW_WORK']) {
  if (!env[name]) throw new Error(`${name} is not set: run client/run-firewall-test.sh`);
}
const HOST = env.FW_HOST_IP;
const BASE = `http://${HOST}:${env.FW_HTTP_PORT}`;
const ROOM = 'firewall-101';
const ADMIN_KEY = `firewall-admin-key-${process.pid}-0123456789`;
const TURN_URLS = [
  `turn:${HOST}:${env.FW_TURN_PORT}?transport=udp`,
  `turn:${HOST}:${env.FW_TURN_PORT}?transport=tcp`,
  `turns:${HOST}:${env.FW_TLS_PORT}?transport=tcp`,
];
// Pages on http://10.213.7.1 are not a secure context by default: camera, microphone and crypto need one.
const SECURE_ORIGIN = `--unsafely-treat-insecure-origin-as-secure=${BASE}`;

const results = {};
let server;
let serverLogs = [];
let openBrowser;
let firewalledBrowser;

async function startPodium() {
  const config = `
[http]
listen = "${HOST}:${env.FW_HTTP_PORT}"
static_dir = "${join(clientDir, 'dist')}"

[rtc]
listen_ip = "${HOST}"
workers = 2
webrtc_server_port = ${env.FW_RTC_PORT}
port_min = 50000
port_max = 50999

[auth]
dev_mode = false
token_secret = "firewall-token-secret-${process.pid}-0123456789abcdefghijklmnop"
admin_key = "${ADMIN_KEY}"

[turn]
urls = ${JSON.stringify(TURN_URLS)}
secret = "${env.FW_TURN_SECRET}"
ttl_secs = 3600
`;
  const path = join(env.FW_WORK, 'podium.toml');
  writeFileSync(path, config);
  const binary = env.PODIUM_BIN ?? join(repoRoot, 'target/debug/podium');
  const child = ownChild(
    spawn(binary, ['--config', path], {
      cwd: repoRoot,
      env: { PATH: env.PATH, PODIUM_LOG: 'info,mediasoup=warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const keep = (chunk) => serverLogs.push(chunk.toString());
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  await until(
    'Podium healthy',
    async () => {
      if (child.exitCode !== null) throw new Error(`podium exited with ${child.exitCode}:\n${serverLogs.join('')}`);
      const response = await fetch(`${BASE}/health`).catch(() => null);
      return response?.ok;
    },
    { timeout: 30_000 },
  );
  return {
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(8000).then(() => child.kill('SIGKILL'))]);
    },
  };
}

async function link(role, name) {
  const response = await fetch(`${BASE}/api/admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ room: ROOM, name, role }),
  });
  const body = await response.text();
  assert.equal(response.status, 200, `token for ${name}: ${body}`);
  const { token } = JSON.parse(body);
  return `${BASE}/${role}.html#token=${encodeURIComponent(token)}`;
}

/**
 * The selected candidate pair of each of the page's live peer connections that
 * receive video, with its local and remote candidates, and the video frames
 * decoded on it.
 */
async function selectedPairs(page) {
  return page.evaluate(async () => {
    const out = [];
    for (const pc of window.__test.pcs) {
      if (pc.connectionState === 'closed') continue;
      const report = await pc.getStats();
      const stats = [...report.values()];
      const transport = stats.find((s) => s.type === 'transport' && s.selectedCandidatePairId);
      const pair = transport
        ? report.get(transport.selectedCandidatePairId)
        : stats.find((s) => s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded');
      const video = stats.filter((s) => s.type === 'inbound-rtp' && s.kind === 'video');
      if (!pair || video.length === 0) continue;
      const candidate = (id) => {
        const c = report.get(id) ?? {};
        return {
          candidateType: c.candidateType,
          protocol: c.protocol,
          relayProtocol: c.relayProtocol ?? null,
          address: c.address ?? c.ip ?? null,
          port: c.port,
        };
      };
      out.push({
        connectionState: pc.connectionState,
        iceTransportPolicy: pc.getConfiguration().iceTransportPolicy,
        iceServers: pc.getConfiguration().iceServers.flatMap((s) => s.urls),
        local: candidate(pair.localCandidateId),
        remote: candidate(pair.remoteCandidateId),
        bytesReceived: pair.bytesReceived,
        framesDecoded: video.reduce((n, s) => n + (s.framesDecoded ?? 0), 0),
      });
    }
    return out;
  });
}

function describePair(p) {
  const local = `${p.local.candidateType} ${p.local.protocol}${p.local.relayProtocol ? ` (relayProtocol ${p.local.relayProtocol})` : ''} ${p.local.address}:${p.local.port}`;
  const remote = `${p.remote.candidateType} ${p.remote.protocol} ${p.remote.address}:${p.remote.port}`;
  return `local ${local} -> remote ${remote}; ${p.framesDecoded} frames decoded`;
}

/** Waits until the student page decodes the teacher's camera; returns its selected pair. */
async function watching(page, label) {
  await until(`${label} joined`, () => page.locator('#connection[data-state=live]').count(), { timeout: 30_000 });
  const pair = await until(
    `${label} decodes the teacher's video`,
    async () => {
      const pairs = await selectedPairs(page);
      return pairs.find((p) => p.framesDecoded > 30);
    },
    { timeout: 60_000, interval: 500 },
  ).catch(async (error) => {
    const pairs = await selectedPairs(page).catch((e) => e.message);
    const inbound = await inboundStats(page).catch((e) => e.message);
    throw new Error(`${error.message}\npairs: ${JSON.stringify(pairs)}\ninbound: ${JSON.stringify(inbound)}\nproblems: ${page.problems.join('\n')}`);
  });
  await screenshot(page, `firewall-${label}`);
  return pair;
}

describe('students behind a firewall reach the class through TURN over TLS', { timeout: 240_000 }, () => {
  before(async () => {
    server = await startPodium();
    // Raw host candidates, no mDNS names: nothing multicast on the host's network.
    openBrowser = await launchBrowser({ extraArgs: [SECURE_ORIGIN, '--disable-features=WebRtcHideLocalIpsWithMdns'] });
    firewalledBrowser = await chromium.launch({
      executablePath: env.FW_CHROMIUM,
      headless: true,
      // The test coturn's self-signed certificate, accepted by its key's hash (only in this browser).
      args: [...CHROMIUM_ARGS, SECURE_ORIGIN, `--ignore-certificate-errors-spki-list=${env.FW_TURN_SPKI}`],
    });
  });

  after(async () => {
    mkdirSync(artifactsDir, { recursive: true });
    writeFileSync(join(artifactsDir, 'firewall-candidates.json'), `${JSON.stringify(results, null, 2)}\n`);
    await firewalledBrowser?.close().catch(() => {});
    await openBrowser?.close().catch(() => {});
    await server?.stop();
    writeFileSync(join(artifactsDir, 'firewall-server.log'), serverLogs.join(''));
  });

  it('the firewalled student decodes over a TLS relay, the open one over direct UDP', async () => {
    const teacher = await openPage(openBrowser, await link('teacher', 'Ms Curie'), { name: 'teacher' });
    await until('teacher connected', () => teacher.locator('#connection[data-state=live]').count(), { timeout: 30_000 });
    await until('teacher preview', () => teacher.locator('#preview[data-has-media]').count());
    await until('go-live enabled', () => teacher.locator('#go-live:not([disabled])').count());
    await teacher.click('#go-live');
    await until('broadcast live', () => teacher.locator('#broadcast-state[data-state=live]').count());

    const open = await openPage(openBrowser, await link('student', 'Open Olga'), { name: 'open' });
    const firewalled = await openPage(firewalledBrowser, await link('student', 'Firewalled Fred'), { name: 'firewalled' });

    const [openPair, firewalledPair] = await Promise.all([watching(open, 'open'), watching(firewalled, 'firewalled')]);
    results.turnUrls = TURN_URLS;
    results.open = openPair;
    results.firewalled = firewalledPair;
    console.log(`# open student:       ${describePair(openPair)}`);
    console.log(`# firewalled student: ${describePair(firewalledPair)}`);

    assert.ok(firewalledPair.iceServers.length >= 3, `the page got the TURN servers: ${JSON.stringify(firewalledPair)}`);
    assert.equal(firewalledPair.local.candidateType, 'relay', `firewalled: ${describePair(firewalledPair)}`);
    assert.equal(firewalledPair.local.relayProtocol, 'tls', `firewalled: ${describePair(firewalledPair)}`);
    assert.equal(firewalledPair.remote.protocol, 'udp', 'the relay reaches the WebRTC server over UDP');
    assert.ok(firewalledPair.framesDecoded > 0);

    assert.equal(openPair.local.candidateType, 'host', `open: ${describePair(openPair)}`);
    assert.equal(openPair.local.protocol, 'udp', `open: ${describePair(openPair)}`);
    assert.equal(openPair.remote.candidateType, 'host', `open: ${describePair(openPair)}`);
    assert.equal(openPair.remote.protocol, 'udp', `open: ${describePair(openPair)}`);
    assert.ok(openPair.framesDecoded > 0);

    // Both reach a WebRTC server port (one per worker), not a per-transport port.
    const serverPorts = [Number(env.FW_RTC_PORT), Number(env.FW_RTC_PORT) + 1];
    assert.ok(serverPorts.includes(openPair.remote.port), `open remote port ${openPair.remote.port} in ${serverPorts}`);
    assert.ok(serverPorts.includes(firewalledPair.remote.port), `firewalled remote port ${firewalledPair.remote.port} in ${serverPorts}`);

    for (const page of [teacher, open, firewalled]) {
      assert.deepEqual(page.problems, [], `${page.label} had errors`);
    }
  });
});
