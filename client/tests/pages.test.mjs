// The start and admin pages, and the error states people meet: an expired or
// refused link, a denied camera, a server that goes away and comes back, being
// removed from a class. Real Chromium, real server.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  adminGet,
  Classroom,
  dropExpected,
  artifactsDir,
  devToken,
  launchBrowser,
  openPage,
  screenshot,
  sleep,
  startServer,
  until,
} from './harness.mjs';

let server;
let browser;
let classroom;
/** The student the start page opened; the unreachable-server test reuses it. */
let lobbyStudent;



async function issueToken(body) {
  const response = await fetch(`${server.base}/api/admin/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(response.status, 200);
  return response.json();
}

describe('pages and error states in real Chromium', { timeout: 240_000 }, () => {
  before(async () => {
    server = await startServer({ workers: 1 });
    browser = await launchBrowser();
    classroom = new Classroom(server, browser, { room: 'pages', teacher: 'Teacher' });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    if (server) {
      mkdirSync(artifactsDir, { recursive: true });
      writeFileSync(join(artifactsDir, 'pages-server.log'), server.logs.join(''));
    }
  });

  it('admin: no rooms, a room not found, a wrong key, issuing a link, kicking', async () => {
    const admin = await classroom.open(`${server.base}/admin.html#key=${encodeURIComponent(server.adminKey)}`, 'admin');
    await until('empty state', () => admin.locator('#rooms-empty:not([hidden])').count());
    assert.equal(await admin.locator('#connection').getAttribute('data-state'), 'live');

    await admin.fill('#lookup-room', 'nowhere');
    await admin.click('#lookup-form button');
    await until('room not found', () => admin.locator('#room-error[data-state=not-found]:not([hidden])').count());
    assert.match(await admin.locator('#room-error').textContent(), /not found/);
    await admin.click('#close-room');
    dropExpected(admin, [/status of 404/]);

    await admin.fill('#issue-room', 'lobby');
    await admin.fill('#issue-name', 'Grace');
    await admin.selectOption('#issue-role', 'student');
    await admin.click('#issue-form button[type=submit]');
    await until('issued link', () => admin.locator('#issued:not([hidden])').count());
    const url = await admin.locator('#issued-url').inputValue();
    assert.match(url, /\/student\.html#token=v1\./);

    const grace = await classroom.open(url, 'grace');
    await until('grace connected', () => grace.locator('#connection[data-state=live]').count());
    await until('waiting for the teacher', () => grace.locator('#stage-message[data-state=waiting]').count());
    await screenshot(grace, 'student-waiting-for-teacher');

    await admin.click('#refresh');
    await until('lobby listed', () => admin.locator('#rooms-body tr[data-room=lobby]').count());
    await admin.click('#rooms-body tr[data-room=lobby] button');
    await until('grace listed', () => admin.locator('#peers-body tr', { hasText: 'Grace' }).count());
    admin.once('dialog', (dialog) => dialog.accept());
    await admin.click('#peers-body tr:has-text("Grace") button');
    await until('grace removed', () => grace.locator('#fatal:not([hidden])', { hasText: 'removed from the class' }).count());
    const { body } = await adminGet(server, '/api/admin/rooms');
    assert.equal(body.rooms.length, 0, 'the room closed with its last peer');
    await until('admin: room gone', () => admin.locator('#room-error[data-state=not-found]:not([hidden])').count());
    dropExpected(admin, [/status of 404/]);
    await admin.context().close();

    const keyless = await classroom.open(`${server.base}/admin.html`, 'admin-no-key');
    await until('asks for the key', () => keyless.locator('#key-section:not([hidden])').count());
    await keyless.fill('#key-input', 'not-the-key');
    await keyless.press('#key-input', 'Enter');
    await until('wrong key refused', () => keyless.locator('#key-error:not([hidden])', { hasText: 'refused' }).count());
    dropExpected(keyless, [/status of 401/]);
    await keyless.context().close();
  });

  it('the start page (dev mode) hands out a link and opens the page for the role', async () => {
    const start = await classroom.open(server.startLink, 'start');
    await until('dev form', () => start.locator('#dev-section:not([hidden])').count());
    await start.fill('#dev-room', 'lobby');
    await start.fill('#dev-name', 'Ada');
    await start.selectOption('#dev-role', 'student');
    await screenshot(start, 'start');
    await start.click('#dev-form button[type=submit]');
    await start.waitForURL(/\/student\.html/);
    await until('student page connected', () => start.locator('#connection[data-state=live]').count());
    // The token left the address bar and the history entry once read.
    assert.equal(new URL(start.url()).hash, '', 'the fragment is cleared');
    assert.equal(await start.locator('#user-name').textContent(), 'Ada');
    lobbyStudent = start;
  });

  it('server unreachable: the page says so, and rejoins by itself when the server is back', async () => {
    const student = lobbyStudent;
    await server.stop();
    await until('reconnecting, unreachable', () =>
      student.locator('#connection[data-state=reconnecting]', { hasText: 'unreachable' }).count(),
    );
    assert.equal(await student.locator('#stage-message').getAttribute('data-state'), 'reconnecting');
    await screenshot(student, 'student-server-unreachable');
    await server.restart();
    // The backoff may have grown; the page also offers "Retry now".
    await until('connected again', () => student.locator('#connection[data-state=live]').count(), { timeout: 30_000 });
    await until('waiting for the teacher again', () => student.locator('#stage-message[data-state=waiting]').count());
    dropExpected(student, [/ERR_CONNECTION_REFUSED/, /WebSocket connection to .* failed/]);
    await student.context().close();
  });

  it('an expired link is explained before connecting', async () => {
    const issued = await issueToken({ room: 'lobby', name: 'Late', role: 'student', ttlSecs: 1 });
    await sleep(1500);
    const page = await classroom.open(issued.url, 'expired');
    await until('expired state', () => page.locator('#fatal:not([hidden])', { hasText: 'expired' }).count());
    assert.equal(await page.evaluate(() => window.__test.sockets.length), 0, 'no connection attempt');
    await screenshot(page, 'student-link-expired');
    await page.context().close();
  });

  it('a link the server refuses (bad signature) is explained', async () => {
    const { token } = await devToken(server.base, { room: 'lobby', name: 'Mallory', role: 'student' });
    const forged = `${token.slice(0, -2)}${token.endsWith('AA') ? 'BB' : 'AA'}`;
    const page = await classroom.open(`${server.base}/student.html#token=${forged}`, 'forged');
    await until('refused state', () => page.locator('#fatal:not([hidden])', { hasText: 'not valid' }).count());
    assert.match(await page.locator('#fatal').textContent(), /invalid token/);
    // Chromium itself reports the refused WebSocket handshake and the 401 in the console.
    dropExpected(page, [/WebSocket connection to .* failed/, /status of 401/]);
    await page.context().close();
  });

  it('the same link opened twice: the newer tab takes over, the older one says so and stays put', async () => {
    const issued = await issueToken({ room: 'lobby', name: 'Twin', user: 'twin@example.org', role: 'student' });
    const first = await classroom.open(issued.url, 'twin-first');
    await until('first tab live', () => first.locator('#connection[data-state=live]').count());
    const second = await classroom.open(issued.url, 'twin-second');
    await until('second tab live', () => second.locator('#connection[data-state=live]').count());
    await until('first tab told', () => first.locator('#fatal:not([hidden])', { hasText: 'Opened elsewhere' }).count());
    const sockets = await first.evaluate(() => window.__test.sockets.length);
    await sleep(2500);
    assert.equal(await first.evaluate(() => window.__test.sockets.length), sockets, 'the older tab does not reconnect');
    assert.equal(await second.locator('#connection').getAttribute('data-state'), 'live', 'the newer tab stays');
    const room = await adminGet(server, '/api/admin/rooms/lobby');
    assert.equal(room.body.peers.filter((p) => p.user === 'twin@example.org').length, 1);
    await screenshot(first, 'student-opened-elsewhere');
    await first.context().close();
    await second.context().close();
  });

  it('camera and microphone denied: the teacher page explains what to do', async () => {
    const denying = await launchBrowser({ denyMedia: true });
    try {
      const { link } = await devToken(server.base, { room: 'denied', name: 'Mr Noam', role: 'teacher' });
      const page = await openPage(denying, link, { name: 'teacher-denied' });
      classroom.pages.push(page);
      await until('denied message', () => page.locator('#media-error:not([hidden])', { hasText: 'denied' }).count());
      await until('connected anyway', () => page.locator('#connection[data-state=live]').count());
      assert.equal(await page.locator('#retry-media').isVisible(), true, 'a retry button');
      assert.equal(await page.locator('#go-live').isDisabled(), true, 'nothing to send');
      assert.equal(await page.locator('#preview-message').getAttribute('data-state'), 'denied');
      assert.match(await page.locator('#media-error').textContent(), /camera and microphone was denied/);
      await screenshot(page, 'teacher-camera-denied');
    } finally {
      await denying.close();
    }
  });

  it('no page logged an unexpected error', () => {
    assert.deepEqual(classroom.problems(), []);
  });
});
