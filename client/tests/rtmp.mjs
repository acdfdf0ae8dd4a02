// A local RTMP ingest for the restream test, and ffprobe to judge what it
// receives: Debian's nginx with libnginx-mod-rtmp in the foreground, its own
// prefix directory and nginx.conf in a temporary folder, on a free port (the
// egress crate's tests do the same in Rust: egress/tests/common/).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, ownChild, sleep } from './harness.mjs';

const NGINX = process.env.NGINX_PATH ?? 'nginx';
const RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

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
  const conf = [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${log} info;`,
    `load_module ${RTMP_MODULE};`,
    'events { worker_connections 128; }',
    `rtmp { server { listen 127.0.0.1:${port}; chunk_size 4096; ack_window 131072;`,
    '  application live { live on; record off; } } }',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'nginx.conf'), conf);
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
 * Plays `url` for `seconds` of stream time with ffprobe, decoding every frame,
 * and describes what came: the streams' codecs and formats, and the video and
 * audio frames with their timestamps.
 */
export async function ffprobe(url, seconds, { timeoutMs = (seconds + 30) * 1000 } = {}) {
  const args = [
    '-v', 'error',
    '-rw_timeout', '15000000',
    '-read_intervals', `%+${seconds}`,
    '-show_streams', '-show_frames',
    '-show_entries',
    'stream=index,codec_type,codec_name,profile,width,height,pix_fmt,avg_frame_rate,sample_rate,channels:frame=media_type,pts_time,key_frame,width,height',
    '-of', 'json',
    url,
  ];
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
  const frames = json.frames ?? [];
  const times = (type) =>
    frames.filter((f) => f.media_type === type && f.pts_time !== undefined).map((f) => Number(f.pts_time));
  const span = (list) => (list.length > 1 ? Math.max(...list) - Math.min(...list) : 0);
  const videoTimes = times('video');
  const audioTimes = times('audio');
  const videoSpan = span(videoTimes);
  return {
    wallSeconds: (Date.now() - started) / 1000,
    video: video && {
      codec: video.codec_name,
      profile: video.profile,
      width: video.width,
      height: video.height,
      pixFmt: video.pix_fmt,
      frames: videoTimes.length,
      keyframes: frames.filter((f) => f.media_type === 'video' && f.key_frame === 1).length,
      seconds: Number(videoSpan.toFixed(2)),
      fps: videoTimes.length > 1 ? Number(((videoTimes.length - 1) / videoSpan).toFixed(2)) : 0,
    },
    audio: audio && {
      codec: audio.codec_name,
      profile: audio.profile,
      sampleRate: Number(audio.sample_rate),
      channels: audio.channels,
      frames: audioTimes.length,
      seconds: Number(span(audioTimes).toFixed(2)),
    },
  };
}
