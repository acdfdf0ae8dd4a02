// Recording a class, end to end: a teacher is live in Chromium (fake camera
// and microphone) with a student watching; the teacher records from the page.
// Both pages show the "Recording" badge while it runs (people must know they
// are recorded), and neither once it stops. The admin page lists the
// recording, changes its picture's layout while it runs, plays it in the
// browser's own player through a signed link (HTTP Range), downloads it, and
// deletes it. ffprobe reads the file over the same link: H.264 and AAC for
// the time recorded.
//
// Real server, real browser, real ffprobe: nothing is mocked.

import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  Classroom,
  adminGet,
  artifactsDir,
  devToken,
  launchBrowser,
  screenshot,
  sleep,
  startServer,
  until,
} from './harness.mjs';
import { ffprobe } from './rtmp.mjs';

const ROOM = 'record-101';
let server;
let browser;
let classroom;

const badgeShown = (page) => page.locator('[data-testid=recording-badge]:not([hidden])').count();

describe('recording a class in real Chromium', { timeout: 240_000 }, () => {
  before(async () => {
    server = await startServer({ workers: 1 });
    browser = await launchBrowser();
    classroom = new Classroom(server, browser, { room: ROOM, teacher: 'Teacher' });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    if (server) {
      mkdirSync(artifactsDir, { recursive: true });
      writeFileSync(join(artifactsDir, 'recording-server.log'), server.logs.join(''));
    }
  });

  it('the teacher records; every page shows it; the admin plays, downloads and deletes the file', async () => {
    const teacher = await classroom.openTeacher('teacher');
    await classroom.goLive(teacher);
    const { link } = await devToken(server.base, { room: ROOM, name: 'Student', role: 'student' });
    const student = await classroom.open(link, 'student');
    await until('student connected', () => student.locator('#connection[data-state=live]').count());
    assert.equal(await badgeShown(teacher), 0);
    assert.equal(await badgeShown(student), 0);

    const record = teacher.locator('[data-testid=record-button]');
    await until('record button', () => teacher.locator('[data-testid=record-button]:not([hidden]):not([disabled])').count());
    assert.equal((await record.textContent()).trim(), 'Record');
    await record.click();
    await until('teacher badge', () => badgeShown(teacher));
    await until('student badge', () => badgeShown(student));
    await until('stop label', async () => (await record.textContent()).trim() === 'Stop recording');
    await screenshot(student, 'recording-student');
    await screenshot(teacher, 'recording-teacher');

    const admin = await classroom.open(`${server.base}/admin.html#key=${encodeURIComponent(server.adminKey)}`, 'admin');
    const row = admin.locator('[data-testid=recording-row]').first();
    await until('a running recording listed', async () => (await row.count()) > 0 && (await row.getAttribute('data-state')) === 'recording');
    const id = await row.getAttribute('data-recording-id');

    // The picture changes while it records: sent from the row's select, kept by the server and the row.
    const picture = row.locator('[data-testid=recording-layout]');
    assert.equal(await picture.inputValue(), 'auto', 'the teacher records with the default layout');
    const put = admin.waitForResponse((response) => response.request().method() === 'PUT' && response.url().endsWith(`/recordings/${id}/layout`));
    await picture.selectOption('sideBySide');
    assert.equal((await put).status(), 200);
    assert.equal((await adminGet(server, `/api/admin/recordings/${id}`)).body.layout, 'sideBySide');

    await sleep(8000);
    assert.equal(await picture.inputValue(), 'sideBySide', 'polls keep the new layout');
    await record.click();
    await until('teacher badge gone', async () => (await badgeShown(teacher)) === 0);
    await until('student badge gone', async () => (await badgeShown(student)) === 0);
    await until('listed as finished', async () => (await row.getAttribute('data-state')) === 'finished');
    const { body: summary } = await adminGet(server, `/api/admin/recordings/${id}`);
    assert.equal(summary.endReason, 'stopped');
    assert.equal(summary.layout, 'sideBySide');
    assert.equal(await picture.isHidden(), true, 'no layout to change once it has ended');
    assert.equal(await row.locator('[data-testid=recording-layout-text]').textContent(), 'Side by side');
    assert.ok(summary.durationSecs >= 6, JSON.stringify(summary));
    assert.ok(summary.bytes > 100_000, JSON.stringify(summary));

    // Play: the browser's own player on the signed link, which it reads with Range.
    await admin.locator(`[data-testid=recording-row][data-recording-id="${id}"] [data-testid=recording-play]`).click();
    const player = admin.locator('[data-testid=recording-player]');
    await until('the player loaded the file', () =>
      player.evaluate((video) => video.readyState >= 2 && video.duration >= 6),
    );
    const src = await player.evaluate((video) => video.currentSrc);
    assert.match(src, new RegExp(`/api/recordings/${id}/file\\?expires=\\d+&sig=`));
    assert.ok(!src.includes(server.adminKey), 'no admin key in the link');
    await player.evaluate((video) => { video.currentTime = 4; });
    await until('seeks', () => player.evaluate((video) => !video.seeking && video.currentTime >= 3.9));
    await screenshot(admin, 'recording-admin');

    // What the file holds, read through the same link.
    const probe = await ffprobe(src, 60);
    assert.equal(probe.video?.codec, 'h264', JSON.stringify(probe));
    assert.equal(probe.audio?.codec, 'aac', JSON.stringify(probe));
    assert.ok(probe.video.seconds >= 6, JSON.stringify(probe));

    // Download: an attachment named for the class.
    const [download] = await Promise.all([
      admin.waitForEvent('download'),
      admin.locator(`[data-testid=recording-row][data-recording-id="${id}"] [data-testid=recording-download]`).click(),
    ]);
    assert.match(download.suggestedFilename(), /\.mp4$/);

    // Delete (after a confirm): gone from the list and from the server.
    admin.once('dialog', (dialog) => dialog.accept());
    await admin.locator(`[data-testid=recording-row][data-recording-id="${id}"] [data-testid=recording-delete]`).click();
    await until('row gone', async () => (await admin.locator(`[data-testid=recording-row][data-recording-id="${id}"]`).count()) === 0);
    const { status } = await adminGet(server, `/api/admin/recordings/${id}`);
    assert.equal(status, 404);
    assert.deepEqual(classroom.problems(), []);
  });
});
