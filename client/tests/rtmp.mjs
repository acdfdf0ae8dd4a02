// A local RTMP ingest for the restream test, and ffprobe to judge what it
// receives: Debian's nginx with libnginx-mod-rtmp in the foreground, its own
// prefix directory and nginx.conf in a temporary folder, on a free port. The
// Rust tests do the same (crate podium-testkit), from the same two files:
// testkit/nginx-rtmp.conf (the nginx config template) and testkit/ffprobe.json
// (how ffprobe plays the stream).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ownChild, sleep } from './harness.mjs';

const NGINX = process.env.NGINX_PATH ?? 'nginx';
const testkit = (name) => fileURLToPath(new URL(`../../testkit/${name}`, import.meta.url));

/**
 * testkit/nginx-rtmp.conf with its placeholders filled and its comments
 * dropped, as testkit/src/ingest.rs renders it; the "#tls " lines (RTMPS)
 * only with `rtmpsPort`.
 */
export function renderConf(dir, rtmpPort, rtmpsPort = null) {
  const lines = [];
  for (const line of readFileSync(testkit('nginx-rtmp.conf'), 'utf8').split('\n')) {
    if (line.startsWith('#tls ')) {
      if (rtmpsPort !== null) lines.push(line.slice('#tls '.length));
    } else if (!line.trimStart().startsWith('#')) {
      lines.push(line);
    }
  }
  let conf = lines.join('\n').replaceAll('@DIR@', dir).replaceAll('@RTMP_PORT@', String(rtmpPort));
  if (rtmpsPort !== null) conf = conf.replaceAll('@RTMPS_PORT@', String(rtmpsPort));
  return conf;
}

function listening(port) {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** nginx-rtmp on 127.0.0.1:<free port>, application `live`. */
export async function startIngest() {
  const dir = mkdtempSync(join(tmpdir(), 'podium-client-rtmp-'));
  const port = await freePort();
  const log = join(dir, 'error.log');
  writeFileSync(join(dir, 'nginx.conf'), renderConf(dir, port));
  const child = ownChild(
    spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', log], { stdio: ['ignore', 'ignore', 'pipe'] }),
  );
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const errorLog = () => {
    try {
      return readFileSync(log, 'utf8');
    } catch {
      return '';
    }
  };
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  while (!(await listening(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      const why = `nginx-rtmp did not listen on ${port} (apt install nginx libnginx-mod-rtmp): ${stderr}${errorLog()}`;
      await stop();
      throw new Error(why);
    }
    await sleep(50);
  }
  return { port, url: `rtmp://127.0.0.1:${port}/live`, errorLog, stop };
}

/**
 * Plays `url` for `seconds` of stream time with ffprobe, run exactly as
 * testkit/ffprobe.json says (the Rust judge, testkit/src/ffprobe.rs, runs the
 * same), and describes what came: the streams' codecs and formats, the
 * frames ffprobe decoded, and the span and rate of the video and audio
 * packets' timestamps (one packet per frame in FLV).
 */
export async function ffprobe(url, seconds, { timeoutMs } = {}) {
  const invocation = JSON.parse(readFileSync(testkit('ffprobe.json'), 'utf8'));
  timeoutMs ??= (seconds + invocation.timeoutSlackSeconds) * 1000;
  const args = invocation.args.map((a) => a.replaceAll('{seconds}', String(seconds)).replaceAll('{url}', url));
  const child = ownChild(spawn('ffprobe', args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const started = Date.now();
  const { code, timedOut } = await new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve({ code: null, timedOut: true });
    }, timeoutMs);
    child.once('exit', (exitCode) => {
      clearTimeout(timer);
      resolve({ code: exitCode, timedOut: false });
    });
  });
  if (timedOut) throw new Error(`ffprobe ${url} did not finish in ${timeoutMs / 1000} s: ${stderr}`);
  if (code !== 0) throw new Error(`ffprobe ${url} failed (${code}): ${stderr}`);
  const json = JSON.parse(stdout);
  const streams = json.streams ?? [];
  const video = streams.find((s) => s.codec_type === 'video') ?? null;
  const audio = streams.find((s) => s.codec_type === 'audio') ?? null;
  const packets = json.packets ?? [];
  const of = (stream) => packets.filter((p) => stream && p.stream_index === stream.index && p.pts_time !== undefined);
  const times = (list) => list.map((p) => Number(p.pts_time));
  const span = (list) => (list.length > 1 ? Math.max(...list) - Math.min(...list) : 0);
  const videoPackets = of(video);
  const videoTimes = times(videoPackets);
  const audioTimes = times(of(audio));
  const videoSpan = span(videoTimes);
  return {
    wallSeconds: (Date.now() - started) / 1000,
    video: video && {
      codec: video.codec_name,
      profile: video.profile,
      width: video.width,
      height: video.height,
      pixFmt: video.pix_fmt,
      frames: Number(video.nb_read_frames ?? 0),
      keyframes: videoPackets.filter((p) => (p.flags ?? '').startsWith('K')).length,
      seconds: Number(videoSpan.toFixed(2)),
      fps: videoTimes.length > 1 ? Number(((videoTimes.length - 1) / videoSpan).toFixed(2)) : 0,
    },
    audio: audio && {
      codec: audio.codec_name,
      profile: audio.profile,
      sampleRate: Number(audio.sample_rate),
      channels: audio.channels,
      frames: Number(audio.nb_read_frames ?? 0),
      seconds: Number(span(audioTimes).toFixed(2)),
    },
  };
}
