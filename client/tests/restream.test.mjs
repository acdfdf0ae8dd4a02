// Restreaming from the admin page, end to end: a teacher is live in Chromium
// (fake camera as VP8 simulcast, fake microphone), a student watches, and the
// admin page starts a restream of the teacher's camera and microphone to a
// local nginx-rtmp through its form. ffprobe plays what nginx receives and
// decodes it: H.264 video and AAC audio, 48 kHz stereo, frames that keep
// coming. The teacher closes the page and comes back within the grace period;
// the page shows the wait and then live again, and nginx gets frames again.
// The restream stops from the page. The teacher's camera and screen go out
// side by side, then with the camera in a corner, changed from the card. The
// stream key is never on the page after the start, nor in the server's log.
//
// Real server, real browser, real nginx and ffprobe: nothing is mocked.

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
  freePort,
  launchBrowser,
  openPage,
  outboundStats,
  screenshot,
  sleep,
  startServer,
  until,
} from './harness.mjs';
import { ffprobe, startIngest } from './rtmp.mjs';

const ROOM = 'restream-101';
const KEY = 'podium-e2e-key';
const SECOND_KEY = 'podium-e2e-second-key';
const results = {};

let server;
let ingest;
let browser;
let teacher;
let admin;
let classroom;





const card = () => admin.locator('#restreams-list article.restream').first();

/** The state of the first restream card as the page shows it. */
async function cardState() {
  return card().getAttribute('data-state');
}

/** Nothing the page shows or holds carries the stream keys (text, attributes, field values). */
async function assertNoKeyOnPage(when) {
  const found = await admin.evaluate(
    (keys) => {
      const text = document.body.innerText + document.documentElement.outerHTML;
      const values = [...document.querySelectorAll('input, textarea, select')].map((i) => i.value).join('\n');
      return keys.filter((k) => text.includes(k) || values.includes(k));
    },
    [KEY, SECOND_KEY],
  );
  assert.deepEqual(found, [], `${when}: a stream key is on the admin page`);
}

/** Fills the start form's first destination: custom RTMP server plus a stream key. */
async function fillDestination(scope, url, key) {
  const fieldset = scope.locator('fieldset.destination').first();
  await fieldset.getByLabel('Service').selectOption('custom');
  await fieldset.getByLabel('Server URL').fill(url);
  await fieldset.getByLabel(/^Stream key/).fill(key);
}

async function apiRestream(id) {
  const { status, body } = await adminGet(server, `/api/admin/restreams/${id}`);
  assert.equal(status, 200, JSON.stringify(body));
  return body;
}

describe('restreaming a class from the admin page, to a real RTMP server', { timeout: 240_000 }, () => {
  before(async () => {
    ingest = await startIngest();
    // The local nginx is on 127.0.0.1, which restreams may not reach unless
    // allowlisted (egress.allow_hosts); the server inherits this variable.
    process.env.PODIUM_EGRESS__ALLOW_HOSTS = '["127.0.0.1"]';
    server = await startServer({ workers: 1 });
    browser = await launchBrowser();
    classroom = new Classroom(server, browser, { room: ROOM, teacher: 'Ms Hopper' });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.stop();
    mkdirSync(artifactsDir, { recursive: true });
    if (server) writeFileSync(join(artifactsDir, 'restream-server.log'), server.logs.join(''));
    if (ingest) {
      writeFileSync(join(artifactsDir, 'restream-nginx.log'), ingest.errorLog());
      await ingest.stop();
    }
    writeFileSync(join(artifactsDir, 'restream-results.json'), `${JSON.stringify(results, null, 2)}\n`);
  });

  it('the admin page lists the room with no restream, and shows why one cannot start before the teacher is live', async () => {
    teacher = await classroom.openTeacher('teacher');
    const { link } = await devToken(server.base, { room: ROOM, name: 'Ada', role: 'student' });
    const student = await classroom.open(link, 'student');
    await until('student connected', () => student.locator('#connection[data-state=live]').count());

    admin = await classroom.open(`${server.base}/admin.html#key=${encodeURIComponent(server.adminKey)}`, 'admin');
    await until('room offered for restreams', () => admin.locator(`#restream-room option[value="${ROOM}"]`).count());
    await admin.selectOption('#restream-room', ROOM);
    await until('empty state', () => admin.locator('#restreams-empty:not([hidden])').count());
    assert.match(await admin.locator('#restreams-empty').textContent(), /No restream in this room/);
    assert.equal(await admin.locator('#restreams-room').textContent(), ROOM);

    // Client-side check: a custom destination needs a URL.
    await admin.locator('#restream-form fieldset.destination').first().getByLabel('Service').selectOption('custom');
    await admin.click('#restream-start');
    await until('missing URL explained', () => admin.locator('#restream-error:not([hidden])').count());
    assert.match(await admin.locator('#restream-error').textContent(), /server URL/);
    assert.equal(await admin.locator('#restream-form fieldset.destination').first().getByLabel('Server URL').getAttribute('aria-invalid'), 'true');

    // Several destinations: a second one comes with its own fields, numbered, and can go again.
    await admin.click('#restream-add-destination');
    assert.equal(await admin.locator('#restream-destinations fieldset.destination').count(), 2);
    assert.equal(await admin.locator('#restream-destinations legend').nth(1).textContent(), 'Destination 2');
    const second = admin.locator('#restream-destinations fieldset.destination').nth(1);
    assert.equal(await second.getByLabel('Service').evaluate((node) => node === document.activeElement), true, 'focus moves to it');
    await second.getByLabel('Service').selectOption('ivs');
    assert.equal(await second.getByLabel('Ingest server', { exact: true }).isVisible(), true, 'IVS asks for its ingest server');
    assert.equal(await second.getByLabel('Server URL').isVisible(), false);
    await second.getByRole('button', { name: 'Remove destination 2' }).click();
    assert.equal(await admin.locator('#restream-destinations fieldset.destination').count(), 1);

    // The server's refusal, shown as it gave it: nobody sends video yet.
    await fillDestination(admin.locator('#restream-form'), ingest.url, KEY);
    await admin.click('#restream-start');
    await until('server refusal shown', () =>
      admin.locator('#restream-error:not([hidden])', { hasText: 'did not start' }).count(),
    );
    results.refusedBeforeLive = await admin.locator('#restream-error').textContent();
    assert.match(results.refusedBeforeLive, /not sending video|no media yet/);
    dropExpected(admin, [/status of 409/]);
  });

  it('starts a restream of the teacher camera and microphone from the page; the stream key is gone from it', async () => {
    await classroom.goLive(teacher);
    const sent = await until('teacher sends three simulcast layers', async () => {
      const video = (await outboundStats(teacher)).filter((s) => s.kind === 'video' && s.rid);
      return video.length === 3 && video.every((s) => s.packetsSent > 0) ? video : null;
    });
    results.teacherLayers = sent.map((s) => `${s.rid}:${s.frameWidth}x${s.frameHeight}`);
    await until('camera and microphone offered', async () =>
      (await admin.locator('#restream-video option').count()) >= 2 && (await admin.locator('#restream-audio option').count()) >= 3,
    );
    // Defaults: the teacher's camera and microphone.
    assert.equal(await admin.locator('#restream-video').inputValue(), '');
    assert.equal(await admin.locator('#restream-audio').inputValue(), '');
    // The key field is a password field; the form still holds what was typed after the refusal.
    const keyField = admin.locator('#restream-form fieldset.destination').first().getByLabel(/^Stream key/);
    assert.equal(await keyField.getAttribute('type'), 'password');
    assert.equal(await keyField.inputValue(), KEY);

    await admin.click('#restream-start');
    await until('restream card', () => card().count());
    results.startedAt = Date.now();
    await assertNoKeyOnPage('just after the start');
    assert.equal(await keyField.inputValue(), '', 'the key field is cleared');
    const id = await card().getAttribute('data-restream-id');
    results.restreamId = id;

    await until('UI: restream live', async () => (await cardState()) === 'live', { timeout: 30_000 });
    await until('UI: destination live', () => card().locator('tr[data-state=live]').count());
    results.secondsToLive = (Date.now() - results.startedAt) / 1000;
    const status = await apiRestream(id);
    assert.equal(status.state, 'live');
    assert.equal(status.input.video.codec, 'vp8', 'the teacher camera arrives as VP8');
    assert.equal(status.input.videoPath, 'reencode');
    assert.equal(status.input.hasAudio, true);
    assert.equal(status.destinations[0].url, `${ingest.url}/***`);
    assert.match(await card().locator('.restream-input').textContent(), /VP8 video re-encoded to H\.264/);
    assert.equal(await card().locator('.restream-state').getAttribute('role'), 'status');
    assert.equal(await card().locator('tr[data-state=live] code').textContent(), `${ingest.url}/***`);
    await assertNoKeyOnPage('live');
  });

  it('nginx receives H.264 and AAC (48 kHz, stereo), and frames keep coming; the page shows the figures', async () => {
    // Decoding starts at the first keyframe (every 2 s): 8 s read, at least 5 s of frames.
    const probe = await ffprobe(`${ingest.url}/${KEY}`, 8);
    results.probe = probe;
    assert.ok(probe.video, `a video stream: ${JSON.stringify(probe)}`);
    assert.equal(probe.video.codec, 'h264');
    assert.ok(probe.video.width >= 320 && probe.video.height >= 180, `a resolution: ${probe.video.width}x${probe.video.height}`);
    assert.ok(probe.video.seconds >= 5, `at least 5 s of video frames, got ${probe.video.seconds} s`);
    assert.ok(probe.video.fps >= 10, `frames keep coming: ${probe.video.fps} fps`);
    assert.ok(probe.audio, 'an audio stream');
    assert.equal(probe.audio.codec, 'aac');
    assert.equal(probe.audio.sampleRate, 48000);
    assert.equal(probe.audio.channels, 2);
    assert.ok(probe.audio.frames >= 100, `audio frames keep coming: ${probe.audio.frames}`);

    // The figures on the page move with the stream.
    const figures = await until('figures on the page', async () => {
      const f = await card().locator('.figures dd').allTextContents();
      return Number.parseFloat(f[1]) >= 5 && /bit\/s/.test(f[2]) ? f : null;
    });
    results.pageFigures = figures;
    assert.match(figures[3], /[kMG]B$/, `bytes muxed: ${figures[3]}`);
    const row = await card().locator('tr[data-state=live] td').allTextContents();
    results.pageDestinationRow = row;
    assert.match(row[0], /^Live$/);
    assert.match(row[1], /[kMG]B$/);
    await screenshot(admin, 'admin-restream');
  });

  it('adds a destination while live (a refused one shows the server message), then removes it', async () => {
    const details = card().locator('details.add-destination');
    await details.locator('summary').click();
    const form = details.locator('form');
    // The server refuses a separate key with a URL that has a query.
    await fillDestination(form, `${ingest.url}?token=x`, SECOND_KEY);
    await form.getByRole('button', { name: 'Add destination' }).click();
    await until('server message shown', () => form.locator('[role=alert]:not([hidden])').count());
    assert.match(await form.locator('[role=alert]').textContent(), /a URL with a query cannot take a separate stream key/);
    dropExpected(admin, [/status of 400/]);

    await form.locator('fieldset.destination').getByLabel('Server URL').fill(ingest.url);
    await form.getByRole('button', { name: 'Add destination' }).click();
    await until('two destinations', async () => (await card().locator('tbody tr').count()) === 2);
    await until('both live', async () => (await card().locator('tbody tr[data-state=live]').count()) === 2, { timeout: 20_000 });
    await assertNoKeyOnPage('after adding a destination');
    const second = await ffprobe(`${ingest.url}/${SECOND_KEY}`, 2);
    results.secondDestinationProbe = second;
    assert.equal(second.video?.codec, 'h264', 'the second destination receives the stream too');

    // A destination nobody listens on: the page shows its retries (or its failure) with the error.
    await details.locator('summary').click();
    await fillDestination(form, `rtmp://127.0.0.1:${await freePort()}/live`, SECOND_KEY);
    await form.getByRole('button', { name: 'Add destination' }).click();
    await until('three destinations', async () => (await card().locator('tbody tr').count()) === 3);
    const deadRow = card().locator('tbody tr').nth(2);
    results.deadDestinationText = await until('dead destination retrying', async () => {
      const state = await deadRow.getAttribute('data-state');
      const text = await deadRow.locator('.destination-state').textContent();
      return state === 'reconnecting' || state === 'failed' ? `${state}: ${text}` : null;
    });
    assert.match(results.deadDestinationText, /^(reconnecting: Reconnecting \(attempt \d+, (next try in \d+ s|trying now)\)\. Last error: .+|failed: Failed: .+)$/);
    assert.equal(await cardState(), 'live', 'one live destination keeps the restream live');

    const rows = card().locator('tbody tr');
    const secondId = await rows.nth(1).getAttribute('data-destination-id');
    for (const index of [2, 1]) {
      admin.once('dialog', (dialog) => dialog.accept());
      await rows.nth(index).getByRole('button', { name: /Remove destination/ }).click();
      await until(`back to ${index} destinations`, async () => (await card().locator('tbody tr').count()) === index);
    }
    const status = await apiRestream(results.restreamId);
    assert.equal(status.destinations.length, 1);
    assert.notEqual(status.destinations[0].id, secondId);
    assert.equal(status.state, 'live');
    // The last destination cannot be removed: "Stop restream" does that.
    assert.equal(await card().locator('tbody tr').first().getByRole('button', { name: /Remove destination/ }).isDisabled(), true);
  });

  it('the teacher closes the page and comes back within the grace period: waiting, then live again, frames again', async () => {
    const closedAt = Date.now();
    await teacher.context().close();
    await until('UI: waiting for the teacher', async () => (await cardState()) === 'waitingForInput', { timeout: 15_000 });
    results.secondsToWaiting = (Date.now() - closedAt) / 1000;
    const waiting = await card().locator('.restream-state').textContent();
    assert.match(waiting, /Waiting for the teacher's video to come back \(gives up after \d+ s/);
    results.waitingText = waiting;
    assert.match(await card().locator('.restream-countdown').textContent(), /^about \d+ s left$/);
    assert.match(await card().locator('.destination-state').first().textContent(), /Paused until the video is back/);
    await screenshot(admin, 'admin-restream-waiting');

    teacher = await classroom.openTeacher('teacher-again');
    await classroom.goLive(teacher);
    const liveAgainAt = Date.now();
    results.secondsTeacherAway = (liveAgainAt - closedAt) / 1000;
    await until('UI: live again', async () => (await cardState()) === 'live', { timeout: 20_000 });
    results.secondsBackToLive = (Date.now() - liveAgainAt) / 1000;
    await until('UI: destination live again', () => card().locator('tr[data-state=live]').count(), { timeout: 20_000 });
    const status = await apiRestream(results.restreamId);
    assert.equal(status.destinations[0].stats.reconnects >= 1, true, 'the destination published again');

    const probe = await ffprobe(`${ingest.url}/${KEY}`, 5);
    results.probeAfterReturn = probe;
    assert.equal(probe.video?.codec, 'h264');
    assert.ok(probe.video.seconds >= 3, `frames again after the return: ${probe.video.seconds} s`);
    assert.ok(probe.video.fps >= 10, `frames keep coming after the return: ${probe.video.fps} fps`);
    assert.equal(probe.audio?.codec, 'aac');
  });

  it('stops from the page: stopped there and on the server; keys nowhere on the page or in the server log', async () => {
    admin.once('dialog', (dialog) => dialog.accept());
    await card().getByRole('button', { name: /Stop restream/ }).click();
    await until('UI: stopped', async () => (await cardState()) === 'stopped');
    assert.equal(await card().locator('.restream-state').textContent(), 'Stopped');
    assert.equal(await card().locator('.restream-controls').isHidden(), true, 'no controls on an ended restream');
    assert.equal((await apiRestream(results.restreamId)).state, 'stopped');
    await until('no restream running on the server', async () => {
      const { body } = await adminGet(server, `/api/admin/restreams?room=${ROOM}`);
      return body.restreams.every((r) => r.state === 'stopped' || r.state === 'failed');
    });
    await assertNoKeyOnPage('after the stop');
    const log = server.logs.join('');
    assert.ok(log.includes('restream started'), 'the log is the server log');
    for (const key of [KEY, SECOND_KEY]) assert.equal(log.includes(key), false, `${key} in the server log`);
  });

  it("restreams the teacher's shared screen without sound when chosen so on the page", async () => {
    await until('share-screen enabled', () => teacher.locator('#share-screen:not([disabled])').count());
    await teacher.click('#share-screen');
    const screen = await until('screen producer', async () => {
      const { body } = await adminGet(server, `/api/admin/rooms/${ROOM}`);
      return body?.producers?.find((p) => p.source === 'screen');
    });
    await until('screen offered', () => admin.locator(`#restream-video option[value="${screen.id}"]`).count());
    assert.match(await admin.locator(`#restream-video option[value="${screen.id}"]`).textContent(), /Ms Hopper \(teacher\): screen/);
    await admin.selectOption('#restream-video', screen.id);
    await admin.selectOption('#restream-audio', 'none');
    await fillDestination(admin.locator('#restream-form'), ingest.url, KEY);
    const posted = admin.waitForRequest((request) => request.method() === 'POST' && request.url().endsWith(`/rooms/${ROOM}/restreams`));
    await admin.click('#restream-start');
    const body = JSON.parse((await posted).postData());
    assert.equal(body.videoProducerId, screen.id);
    assert.equal('audioProducerId' in body, false, 'no sound asked');
    await until('a second card', () => admin.locator('#restreams-list article.restream').count().then((n) => n === 2));
    // Running restreams come first.
    await until('UI: screen restream live', async () => (await cardState()) === 'live', { timeout: 30_000 });
    const id = await card().getAttribute('data-restream-id');
    assert.notEqual(id, results.restreamId);
    const status = await apiRestream(id);
    assert.equal(status.input.hasAudio, false);
    assert.match(await card().locator('.restream-input').textContent(), /no sound \(silence sent\)/);
    await assertNoKeyOnPage('after the second start');
    admin.once('dialog', (dialog) => dialog.accept());
    await card().getByRole('button', { name: /Stop restream/ }).click();
    await until('UI: screen restream stopped', async () => (await apiRestream(id)).state === 'stopped');
    await until('both cards ended', async () => (await admin.locator('#restreams-list article.restream[data-state=stopped]').count()) === 2);
  });

  it("restreams the teacher's camera and screen side by side when chosen so on the page, and changes the picture live", async () => {
    // The teacher still shares their screen from the test before.
    await admin.selectOption('#restream-layout', 'sideBySide');
    assert.equal(await admin.locator('#restream-video').isDisabled(), true, 'a layout picks its own inputs');
    await fillDestination(admin.locator('#restream-form'), ingest.url, KEY);
    const posted = admin.waitForRequest((request) => request.method() === 'POST' && request.url().endsWith(`/rooms/${ROOM}/restreams`));
    await admin.click('#restream-start');
    const body = JSON.parse((await posted).postData());
    assert.equal(body.layout, 'sideBySide');
    for (const field of ['videoProducerId', 'audioProducerId', 'videoMode']) assert.equal(field in body, false, `no ${field} with a layout`);
    await until('a running card first', async () => (await admin.locator('#restreams-list article.restream').count()) === 3 && (await cardState()) !== 'stopped');
    const id = await card().getAttribute('data-restream-id');
    const composed = admin.locator(`#restreams-list article.restream[data-restream-id="${id}"]`);
    assert.equal(await admin.locator('#restream-layout').inputValue(), '', 'the form is back to no layout');
    assert.equal(await admin.locator('#restream-video').isDisabled(), false);
    await until('UI: composed restream live', async () => (await composed.getAttribute('data-state')) === 'live', { timeout: 30_000 });
    const picture = composed.locator('[data-testid=restream-layout]');
    assert.equal(await picture.inputValue(), 'sideBySide');
    assert.equal((await apiRestream(id)).layout, 'sideBySide');
    assert.equal(await admin.locator('#restreams-list [data-testid=restream-layout]').count(), 1, 'producer pairs have no picture to change');

    const put = admin.waitForResponse((response) => response.request().method() === 'PUT' && response.url().endsWith(`/restreams/${id}/layout`));
    await picture.selectOption('screenWithCamera');
    assert.equal((await put).status(), 200);
    assert.equal((await apiRestream(id)).layout, 'screenWithCamera');
    await sleep(2500); // a poll or more: the page keeps the new picture
    assert.equal(await picture.inputValue(), 'screenWithCamera');
    const probe = await ffprobe(`${ingest.url}/${KEY}`, 5);
    results.composedProbe = probe;
    assert.equal(probe.video?.codec, 'h264', 'frames after the change');
    assert.equal(probe.audio?.codec, 'aac');

    admin.once('dialog', (dialog) => dialog.accept());
    await composed.getByRole('button', { name: /Stop restream/ }).click();
    await until('UI: composed restream stopped', async () => (await composed.getAttribute('data-state')) === 'stopped');
    assert.equal(await picture.isHidden(), true, 'no picture to change once ended');
    assert.equal(await composed.locator('[data-testid=restream-layout-text]').textContent(), 'Picture: Screen with camera in a corner');
  });

  it(
    'a teacher alone in the room leaves and comes back within the grace period: the restream resumes',
    async () => {
      const student = classroom.pages.find((page) => page.label === 'student');
      await student.context().close();
      const response = await fetch(`${server.base}/api/admin/rooms/${ROOM}/restreams`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.adminKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ destinations: [{ service: 'custom', url: ingest.url, streamKey: KEY }] }),
      });
      assert.equal(response.status, 201);
      const { id } = await response.json();
      try {
        await until('live', async () => (await apiRestream(id)).state === 'live', { timeout: 20_000 });
        await teacher.context().close();
        await until('waiting', async () => (await apiRestream(id)).state === 'waitingForInput', { timeout: 15_000 });
        teacher = await classroom.openTeacher('teacher-alone-again');
        await classroom.goLive(teacher);
        const liveAgainAt = Date.now();
        await until('live again', async () => (await apiRestream(id)).state === 'live', { timeout: 15_000 });
        results.aloneSecondsBackToLive = (Date.now() - liveAgainAt) / 1000;
      } finally {
        await fetch(`${server.base}/api/admin/restreams/${id}`, {
          method: 'DELETE',
          headers: { authorization: `Bearer ${server.adminKey}` },
        });
      }
    },
  );

  it('no page logged an unexpected error; no stream key in the server log', () => {
    assert.deepEqual(classroom.problems(), []);
    const log = server.logs.join('');
    for (const key of [KEY, SECOND_KEY]) assert.equal(log.includes(key), false, `${key} in the server log`);
  });
});
