// A live class end to end, in real Chromium against the real server: a
// teacher publishes camera (3-layer simulcast), microphone and screen; five
// students in separate browser contexts decode and hear it; layers, a cut
// WebSocket, speaking rights, the teacher leaving and coming back.
//
// Screen sharing is real getDisplayMedia(): with --use-fake-ui-for-media-stream
// headless Chromium auto-selects its fake desktop capture source
// ("screen:-3:0", 1280x720). No canvas stream stands in for it.

import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  adminGet,
  Classroom,
  dropExpected,
  artifactsDir,
  devToken,
  inboundStats,
  launchBrowser,
  openPage,
  outboundStats,
  screenshot,
  sleep,
  startServer,
  until,
} from './harness.mjs';

const ROOM = 'physics-101';
const STUDENTS = 5;
const results = { students: STUDENTS };

let server;
let browser;
let teacher;
const students = [];
let classroom;




async function roomSummary() {
  const { status, body } = await adminGet(server, `/api/admin/rooms/${ROOM}`);
  assert.equal(status, 200, `room summary: ${JSON.stringify(body)}`);
  return body;
}

const byTag = (stats, tag, extra = () => true) => stats.find((s) => s.tag === tag && extra(s));

/**
 * Samples a page's inbound statistics `seconds` apart and returns, per tagged
 * stream present in both samples, how far it got (same track id).
 */
async function progress(page, seconds) {
  const first = await inboundStats(page);
  await sleep(seconds * 1000);
  const second = await inboundStats(page);
  return second
    .filter((s) => s.tag)
    .map((s) => {
      const before = first.find((f) => f.trackId === s.trackId);
      return {
        tag: s.tag,
        peerId: s.peerId,
        trackId: s.trackId,
        framesDecoded: s.framesDecoded,
        framesDecodedDelta: before ? s.framesDecoded - before.framesDecoded : 0,
        packetsReceived: s.packetsReceived,
        packetsReceivedDelta: before ? s.packetsReceived - before.packetsReceived : 0,
        packetsLost: s.packetsLost,
        frameWidth: s.frameWidth,
        frameHeight: s.frameHeight,
      };
    });
}

/**
 * Polls until the page's inbound stream chosen by `pick` has received `min`
 * more packets than when first seen (within `timeout`): the audio flows. Fails
 * with the stream's statistics otherwise.
 */
async function audioFlows(page, label, pick, { min = 25, timeout = 15_000 } = {}) {
  const start = Date.now();
  let first = null;
  let last = null;
  while (Date.now() - start < timeout) {
    last = pick(await inboundStats(page)) ?? null;
    if (last && (!first || first.trackId !== last.trackId)) first = last;
    if (last && last.packetsReceived - first.packetsReceived >= min) {
      return { packets: last.packetsReceived - first.packetsReceived, seconds: (Date.now() - start) / 1000 };
    }
    await sleep(250);
  }
  assert.fail(`${label}: fewer than ${min} audio packets in ${timeout / 1000}s: first ${JSON.stringify(first)}, last ${JSON.stringify(last)}`);
}

/**
 * Watches a page receive the teacher: samples its statistics every 500 ms for
 * at least `seconds`, and up to `maxSeconds` while the camera has not decoded
 * `minFrames` new frames. Returns what each stream did and the longest time
 * the camera went without a new frame (layer switches, bandwidth ramps).
 */
async function assertWatching(page, label, { seconds = 4, minFrames = 30, maxSeconds = 15 } = {}) {
  const teacherAudio = (stats) => stats.find((s) => s.tag === 'audio:mic' && s.peerId === results.teacherPeerId);
  const start = Date.now();
  // Each stream counts from the first sample that has it (consumers may arrive meanwhile).
  const firstSeen = new Map();
  const remember = (stats) => {
    for (const s of stats) if (!firstSeen.has(s.trackId)) firstSeen.set(s.trackId, s);
  };
  let now = await inboundStats(page);
  remember(now);
  let lastTrack = byTag(now, 'camera')?.trackId;
  let lastFrames = byTag(now, 'camera')?.framesDecoded ?? 0;
  let lastProgressAt = start;
  let longestStallMs = 0;
  const delta = (tag, field, pick = (stats) => byTag(stats, tag)) => {
    const b = pick(now);
    const a = b && firstSeen.get(b.trackId);
    return a ? b[field] - a[field] : 0;
  };
  for (;;) {
    await sleep(500);
    now = await inboundStats(page);
    remember(now);
    const camera = byTag(now, 'camera');
    const frames = camera?.framesDecoded ?? 0;
    if (camera && camera.trackId !== lastTrack) {
      lastTrack = camera.trackId;
      lastFrames = frames;
    }
    if (frames > lastFrames) {
      lastFrames = frames;
      lastProgressAt = Date.now();
    }
    longestStallMs = Math.max(longestStallMs, Date.now() - lastProgressAt);
    const elapsed = (Date.now() - start) / 1000;
    const enough = delta('camera', 'framesDecoded') >= minFrames && delta(null, 'packetsReceived', teacherAudio) > 5;
    if ((elapsed >= seconds && enough) || elapsed >= maxSeconds) break;
  }
  const camera = byTag(now, 'camera');
  const audio = teacherAudio(now);
  const screen = byTag(now, 'screen');
  const report = {
    seconds: Number(((Date.now() - start) / 1000).toFixed(1)),
    framesDecoded: delta('camera', 'framesDecoded'),
    width: camera?.frameWidth ?? 0,
    height: camera?.frameHeight ?? 0,
    longestStallMs,
    audioPackets: delta(null, 'packetsReceived', teacherAudio),
    audioLost: audio?.packetsLost ?? null,
    screenFrames: screen ? delta('screen', 'framesDecoded') : null,
    screenWidth: screen?.frameWidth ?? null,
  };
  assert.ok(camera, `${label}: no camera stream (${JSON.stringify(now)})`);
  if (report.framesDecoded < minFrames) {
    const sent = await outboundStats(teacher).catch((e) => e.message);
    assert.fail(
      `${label}: camera decoded ${report.framesDecoded} frames in ${report.seconds}s: ${JSON.stringify(report)}; ` +
        `page: ${await page.locator('#resolution').textContent()}; teacher sends: ${JSON.stringify(sent)}; ` +
        `signaling:\n${page.signalingLog.slice(-12).join('\n')}`,
    );
  }
  assert.ok(report.width > 0 && report.height > 0, `${label}: camera frame ${report.width}x${report.height}`);
  assert.ok(audio, `${label}: no teacher audio stream (${JSON.stringify(now)})`);
  assert.ok(report.audioPackets > 5, `${label}: audio packetsReceived +${report.audioPackets} in ${report.seconds}s`);
  return report;
}

describe('a live class in real Chromium', { timeout: 300_000 }, () => {
  before(async () => {
    server = await startServer({ workers: 2 });
    // Three fake cameras: fake_device_1 is a Y16 "depth" camera WebRTC cannot
    // encode, so the camera switch goes to fake_device_2.
    browser = await launchBrowser({ cameras: 3 });
    classroom = new Classroom(server, browser, { room: ROOM, teacher: 'Ms Curie' });
  });

  after(async () => {
    mkdirSync(artifactsDir, { recursive: true });
    writeFileSync(join(artifactsDir, 'classroom-results.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(`# results: ${JSON.stringify(results)}`);
    await browser?.close().catch(() => {});
    await server?.stop();
    if (server) writeFileSync(join(artifactsDir, 'classroom-server.log'), server.logs.join(''));
  });

  it('the teacher goes live: camera in 3 simulcast layers, microphone, screen', async () => {
    teacher = await classroom.openTeacher('teacher');
    await classroom.goLive(teacher);
    await teacher.click('#share-screen');
    await until('screen shared', () => teacher.locator('#share-screen[aria-pressed=true]').count());

    const summary = await until('three producers on the server', async () => {
      const s = await roomSummary();
      return s.producers.length === 3 ? s : null;
    });
    const sources = summary.producers.map((p) => `${p.source}:${p.kind}`).sort();
    assert.deepEqual(sources, ['camera:video', 'mic:audio', 'screen:video']);
    results.teacherPeerId = summary.producers[0].peerId;

    // What Chromium actually sends: three RIDs for the camera, one screen stream.
    const out = await until('simulcast layers encoding', async () => {
      const stats = await outboundStats(teacher);
      const rids = stats.filter((s) => s.kind === 'video' && s.rid && s.framesEncoded > 0);
      return rids.length === 3 ? stats : null;
    });
    const layers = out.filter((s) => s.rid).sort((a, b) => a.rid.localeCompare(b.rid));
    results.teacherSimulcast = layers.map((s) => ({ rid: s.rid, width: s.frameWidth, height: s.frameHeight }));
    assert.deepEqual(layers.map((s) => s.rid), ['r0', 'r1', 'r2']);
    assert.ok(layers[0].frameWidth < layers[2].frameWidth, `layers scale: ${JSON.stringify(results.teacherSimulcast)}`);
    await until('the screen encoded', async () =>
      (await outboundStats(teacher)).some((s) => s.kind === 'video' && !s.rid && s.framesEncoded > 0),
    );
    results.screenCapture = await teacher.evaluate(() => {
      const track = document.getElementById('screen-preview').srcObject.getVideoTracks()[0];
      const { width, height, displaySurface } = track.getSettings();
      return { api: 'getDisplayMedia', label: track.label, width, height, displaySurface };
    });
  });

  it(`${STUDENTS} students in separate contexts each decode the teacher's video and hear the audio`, async () => {
    const links = await Promise.all(
      Array.from({ length: STUDENTS }, (_, i) => devToken(server.base, { room: ROOM, name: `Student ${i + 1}`, role: 'student' })),
    );
    students.push(...(await Promise.all(links.map(({ link }, i) => classroom.open(link, `student${i + 1}`)))));
    let unmuteTapped = 0;
    await Promise.all(
      students.map(async (page) => {
        await until(`${page.label} watching`, () => page.locator('#stage-message[data-state=watching]').count());
        const audio = page.locator('audio[data-source=mic]');
        await until(`${page.label} teacher audio element`, () => audio.count());
        // Chromium may block sound before a gesture (it varies): the page then
        // plays muted and offers "tap to unmute". Either way the sound ends up on.
        const blocked = await page.locator('#unmute:not([hidden])').count();
        if (blocked) {
          assert.equal(await audio.evaluate((a) => a.muted), true, 'blocked audio plays muted');
          await page.click('#unmute');
          await until(`${page.label} sound on`, () => page.locator('#unmute[hidden]').count());
          unmuteTapped += 1;
        }
        await until(`${page.label} hears the teacher`, () => audio.evaluate((a) => !a.muted && !a.paused));
      }),
    );
    results.autoplay = { studentsWhoHadToTapUnmute: unmuteTapped, of: STUDENTS };
    const measured = await Promise.all(students.map((page) => assertWatching(page, page.label, { seconds: 5 })));
    results.decoding = measured.map((m, i) => ({ student: i + 1, ...m }));
    for (const [i, m] of measured.entries()) {
      assert.ok(m.screenFrames > 0 && m.screenWidth > 0, `student ${i + 1} decodes the screen: ${JSON.stringify(m)}`);
    }
    // Students sit on both workers: producers are piped between routers.
    const summary = await roomSummary();
    results.workersUsed = [...new Set(summary.peers.map((p) => p.worker))].sort();
  });

  it("a student's quality choice changes the received resolution", async () => {
    const page = students[0];
    const width = async () => byTag(await inboundStats(page), 'camera')?.frameWidth ?? 0;
    const seen = [];
    await page.selectOption('#quality', '0');
    const low = await until('the lowest layer (≤ 320 wide)', async () => {
      const w = await width();
      return w > 0 && w <= 320 ? w : null;
    });
    seen.push({ choice: 'low', width: low });
    await page.selectOption('#quality', '2');
    const high = await until('a higher layer (> 320 wide)', async () => {
      const w = await width();
      return w > 320 ? w : null;
    }, { timeout: 30_000 });
    seen.push({ choice: 'high', width: high });
    await page.selectOption('#quality', '0');
    const lowAgain = await until('back to the lowest layer', async () => {
      const w = await width();
      return w > 0 && w <= 320 ? w : null;
    });
    seen.push({ choice: 'low', width: lowAgain });
    // The page shows what the video element plays (it follows the decoder within a frame or two).
    await until('the page shows the resolution', async () =>
      (await page.locator('#resolution').textContent()).startsWith(`Receiving ${lowAgain}×`),
    );
    results.layers = seen;
    await page.selectOption('#quality', 'auto');
  });

  it('the teacher switches camera and microphone (replaceTrack): same producers, students keep receiving', async () => {
    const before = (await roomSummary()).producers;
    const switchTo = async (select, label) => {
      const options = await teacher.locator(`${select} option`).evaluateAll((os) => os.map((o) => ({ value: o.value, label: o.textContent })));
      const current = await teacher.locator(select).inputValue();
      const other = options.find((o) => o.value && o.value !== current && (!label || o.label === label));
      assert.ok(other, `another device in ${select}: ${JSON.stringify(options)}`);
      await teacher.selectOption(select, other.value);
      await until(`switched to ${other.label}`, () =>
        teacher.evaluate((label) => [...document.querySelectorAll('.notice span')].some((n) => n.textContent === `Switched to ${label}`), other.label),
      );
      return other.label;
    };
    const camera = await switchTo('#camera-select', 'fake_device_2');
    const previewLabel = await teacher.evaluate(() => document.getElementById('preview').srcObject.getVideoTracks()[0].label);
    assert.equal(previewLabel, camera, 'the preview shows the new camera');
    const mic = await switchTo('#mic-select');
    const after = (await roomSummary()).producers;
    assert.deepEqual(after.map((p) => p.id).sort(), before.map((p) => p.id).sort(), 'the producers stay the same');
    const watched = await assertWatching(students[4], 'after the switch', { seconds: 3 });
    results.deviceSwitch = { camera, mic, ...watched };
  });

  it("a student whose WebSocket is cut reconnects and receives again, without a reload", async () => {
    const page = students[1];
    const oldCamera = byTag(await inboundStats(page), 'camera');
    await page.evaluate(() => {
      window.__beforeCut = 'still here';
      window.__test.sockets.at(-1).close();
    });
    const cutAt = Date.now();
    await until('reconnecting shown', () => page.locator('#connection[data-state=reconnecting]').count(), { interval: 50 });
    await until('connected again', () => page.locator('#connection[data-state=live]').count());
    await until('watching again', () => page.locator('#stage-message[data-state=watching]').count());
    const watchingAt = (Date.now() - cutAt) / 1000;
    const watched = await assertWatching(page, 'after reconnecting', { seconds: 3 });
    const camera = byTag(await inboundStats(page), 'camera');
    assert.notEqual(camera.trackId, oldCamera.trackId, 'a new consumer carries the video');
    const state = await page.evaluate(() => ({ marker: window.__beforeCut, sockets: window.__test.sockets.length }));
    assert.equal(state.marker, 'still here', 'the page was not reloaded');
    assert.equal(state.sockets, 2, 'one new WebSocket');
    results.reconnect = { secondsToWatching: watchingAt, ...watched };
  });

  it('a student may not speak until the teacher allows it; then the others hear them', async () => {
    const speaker = students[2];
    const listener = students[3];

    await speaker.click('#speak');
    await until('refusal shown', () => speaker.locator('#speak-status[data-state=refused]').count());
    const refusal = await speaker.locator('#speak-status').textContent();
    assert.match(refusal, /can't speak yet/);
    assert.equal((await roomSummary()).producers.length, 3, 'no producer for the refused student');
    await screenshot(speaker, 'student-speak-refused');

    await speaker.click('#raise-hand');
    const row = teacher.locator('#people li[data-hand=true]');
    await until('raised hand on the teacher page', () => row.count());
    const peerId = await row.getAttribute('data-peer-id');
    assert.match(await row.textContent(), /Student 3/);
    await teacher.click(`#people button[data-action=allow][data-peer="${peerId}"]`);
    await until('allowed on the student page', () => speaker.locator('#speak-status[data-state=allowed]').count());
    await speaker.click('#speak');
    await until('speaking', () => speaker.locator('#speak-status[data-state=speaking]').count());
    await until('their voice reaches the teacher', () => teacher.locator(`audio[data-peer-id="${peerId}"]`).count());
    await until('their voice reaches another student', () => listener.locator(`audio[data-peer-id="${peerId}"]`).count());
    const fromSpeaker = (stats) => stats.find((s) => s.peerId === peerId);
    const [atTeacher, atListener] = await Promise.all([
      audioFlows(teacher, 'the teacher hears student 3', fromSpeaker),
      audioFlows(listener, 'student 4 hears student 3', fromSpeaker),
    ]);
    results.studentVoice = { atTeacher, atStudent4: atListener };

    // Taking the word back closes their microphone everywhere.
    await teacher.click(`#people button[data-action=revoke][data-peer="${peerId}"]`);
    await until('microphone off on the student page', () => speaker.locator('#speak[aria-pressed=false]').count());
    await until('their audio gone at student 4', async () => (await listener.locator(`audio[data-peer-id="${peerId}"]`).count()) === 0);
    assert.equal((await roomSummary()).producers.length, 3);
  });

  it('chat reaches everyone', async () => {
    await students[0].fill('#chat-input', 'Is the homework due Friday?');
    await students[0].press('#chat-input', 'Enter');
    await until('chat at the teacher', () => teacher.locator('#chat-log li', { hasText: 'homework due Friday' }).count());
    await until('chat at another student', () => students[4].locator('#chat-log li', { hasText: 'homework due Friday' }).count());
  });

  it('the teacher mutes the microphone and stops the camera; students see it; both come back', async () => {
    const student = students[4];
    const teacherAudio = (streams) => streams.find((s) => s.tag === 'audio:mic' && s.peerId === results.teacherPeerId);

    await teacher.click('#mute-mic');
    await until('muted', () => teacher.locator('#mute-mic[aria-pressed=true]').count());
    await sleep(1500); // packets already on their way
    const muted = teacherAudio(await progress(student, 3));
    await teacher.click('#mute-mic');
    await until('unmuted', () => teacher.locator('#mute-mic[aria-pressed=false]').count());
    const unmuted = await audioFlows(student, 'audio after unmuting', teacherAudio);
    // Unmuted, 3 s carry ~150 packets (20 ms each).
    assert.ok(muted.packetsReceivedDelta <= 5, `no audio while muted: +${muted.packetsReceivedDelta} in 3 s`);

    // Without the screen share the camera is the main picture.
    await teacher.click('#share-screen');
    await until('screen gone at the student', () => student.locator('#screen-box[hidden]').count());
    await teacher.click('#toggle-camera');
    await until('camera off at the student', () => student.locator('#stage-message[data-state=camera-off]').count());
    assert.equal(await teacher.locator('#preview-message').getAttribute('data-state'), 'off');
    await teacher.click('#toggle-camera');
    await until('camera back at the student', () => student.locator('#stage-message[data-state=watching]').count());
    const restarted = await assertWatching(student, 'camera restarted', { seconds: 3 });
    results.pauseResume = {
      audioPacketsWhileMutedIn3s: muted.packetsReceivedDelta,
      audioAfterUnmute: unmuted,
      cameraAfterRestart: restarted,
    };
    await teacher.click('#share-screen');
    await until('screen back at the student', () => student.locator('#screen-box:not([hidden])').count());
  });

  it("the teacher's WebSocket is cut: the page rejoins and publishes again by itself; students get the video back", async () => {
    const before = (await roomSummary()).producers.map((p) => `${p.source}:${p.id}`);
    await teacher.evaluate(() => window.__test.sockets.at(-1).close());
    await until('teacher reconnecting', () => teacher.locator('#connection[data-state=reconnecting]').count(), { interval: 50 });
    await until('teacher connected again', () => teacher.locator('#connection[data-state=live]').count());
    const summary = await until('camera, microphone and screen published again', async () => {
      const s = await roomSummary();
      return s.producers.length === 3 ? s : null;
    });
    const sources = summary.producers.map((p) => p.source).sort();
    assert.deepEqual(sources, ['camera', 'mic', 'screen']);
    assert.ok(summary.producers.every((p) => !before.includes(`${p.source}:${p.id}`)), 'new producers');
    assert.equal(await teacher.locator('#broadcast-state').getAttribute('data-state'), 'live', 'still live on the page');
    results.teacherPeerId = summary.producers[0].peerId;
    const simulcast = await until('the camera in 3 layers again', async () => {
      const rids = (await outboundStats(teacher)).filter((o) => o.rid && o.framesEncoded > 0).map((o) => o.rid);
      return rids.length === 3 ? rids.sort() : null;
    });
    assert.deepEqual(simulcast, ['r0', 'r1', 'r2']);
    await Promise.all(students.map((page) => until(`${page.label} watching`, () => page.locator('#stage-message[data-state=watching]').count())));
    const watched = await Promise.all(students.map((page) => assertWatching(page, `${page.label} after the teacher reconnected`, { seconds: 3 })));
    results.teacherReconnect = watched.map((m, i) => ({ student: i + 1, framesDecoded: m.framesDecoded, seconds: m.seconds, width: m.width }));
  });

  it('screenshots: teacher live, student watching, admin', async () => {
    const { link } = await devToken(server.base, { room: ROOM, name: 'Admin', role: 'admin', adminKey: server.adminKey });
    const admin = await classroom.open(link, 'admin');
    await until('admin room list', () => admin.locator(`#rooms-body tr[data-room="${ROOM}"]`).count());
    await until('admin room details', () => admin.locator('#peers-body tr').count());
    // The admin page reads the admin API; it is not a peer of the room.
    await until('all participants listed', async () => (await admin.locator('#peers-body tr').count()) === STUDENTS + 1);
    assert.equal(await admin.locator('#producers-body tr').count(), 3);
    assert.equal(await admin.locator('#egress').count(), 1, 'the restream section is there');
    results.screenshots = [
      await screenshot(teacher, 'teacher-live'),
      await screenshot(students[0], 'student-watching'),
      await screenshot(admin, 'admin'),
    ];
    await admin.context().close();
  });

  it('the teacher leaves: students see "teacher left" and the video ends; the teacher returns: video resumes', async () => {
    await teacher.click('#leave');
    await until('teacher page says left', () => teacher.locator('#fatal:not([hidden])', { hasText: 'You left the class' }).count());
    await Promise.all(
      students.map(async (page) => {
        await until(`${page.label}: teacher left`, () => page.locator('#stage-message[data-state=teacher-left]').count());
        const video = await page.evaluate(() => {
          const v = document.getElementById('camera-video');
          return { srcObject: v.srcObject !== null, shown: v.hasAttribute('data-has-media'), screen: !document.getElementById('screen-box').hidden };
        });
        assert.deepEqual(video, { srcObject: false, shown: false, screen: false }, `${page.label}: video ended cleanly`);
      }),
    );
    assert.match(await students[0].locator('#stage-message').textContent(), /teacher left/i);
    await screenshot(students[0], 'student-teacher-left');
    const stats = await inboundStats(students[0]);
    assert.equal(stats.filter((s) => s.tag === 'camera').length, 0, 'no camera stream after the teacher left');
    await teacher.context().close();

    teacher = await classroom.openTeacher('teacher-again');
    await classroom.goLive(teacher);
    const summary = await until('teacher producers again', async () => {
      const s = await roomSummary();
      return s.producers.length === 2 ? s : null;
    });
    results.teacherPeerId = summary.producers[0].peerId;
    await Promise.all(students.map((page) => until(`${page.label} watching again`, () => page.locator('#stage-message[data-state=watching]').count())));
    const measured = await Promise.all(
      students.map((page) => assertWatching(page, `${page.label} after the teacher returned`, { seconds: 4 })),
    );
    results.afterTeacherReturned = measured.map((m, i) => ({ student: i + 1, ...m }));
  });

  it('no page logged an error or threw', () => {
    const problems = classroom.problems();
    assert.deepEqual(problems, []);
  });
});
